"""The write relay's writer process, started by the leading worker:
``python -m aurea.writer SOCKET LOCK_FD`` (LOCK_FD: the inherited election lock)."""

import sys

from aurea.services.write_relay import serve

if __name__ == "__main__":
    serve(*sys.argv[1:])
