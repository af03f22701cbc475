"""The write relay's writer process: ``python -m aurea.writer SOCKET`` (started by a worker)."""

import sys

from aurea.services.write_relay import serve

if __name__ == "__main__":
    serve(*sys.argv[1:])
