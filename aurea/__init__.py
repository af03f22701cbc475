"""Aurea: a self-hosted model router.

The package imports nothing by itself, so ``import aurea.domain.decide`` (or any pure module)
loads no Flask, SQLAlchemy or driver. The Flask application factory is
:func:`aurea.app.create_app`.
"""
