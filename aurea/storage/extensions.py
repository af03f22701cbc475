"""Extension objects, created unbound and initialised by the application factory.

The flask-smorest ``Api`` is the exception: it owns an OpenAPI spec that blueprints
are added to, so the factory builds one per application.
"""

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Named constraints, so migrations can drop and alter them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Objects stay readable after commit without a new (read) transaction.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})


def include_object(_object, name, type_, reflected, compare_to) -> bool:
    """Leave request_metrics' day partitions out of autogenerate: the app creates and drops
    them (aurea.services.partitions), the models know only the partitioned table."""
    partition = name.startswith("request_metrics_p") or name == "request_metrics_default"
    return not (type_ == "table" and reflected and compare_to is None and partition)


# Batch mode lets later migrations alter SQLite tables (copy-and-move).
migrate = Migrate(render_as_batch=True, compare_type=True, include_object=include_object)
