"""A TCP proxy on 127.0.0.1 that outage tests cut and restore.

It forwards every connection to a target (PostgreSQL) until told otherwise:

- ``refuse()``: the database is down. Open connections are reset and nothing listens,
  so new connections are refused at once.
- ``black_hole()``: the network is dead. Open connections stay open but nothing goes
  through them any more, and new connections are accepted but never forwarded: every
  wait for an answer is a wait forever.
- ``drop_answers()``: requests still reach the target, but its answers are lost on the way
  back: the target acts on every request while the client hears nothing.
- ``restore()``: the database is back. Whatever the outage left open is reset and new
  connections are forwarded again.

The proxy runs an asyncio loop in a daemon thread; its methods are called from the test.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading

FORWARD, REFUSE, BLACK_HOLE, DROP_ANSWERS = "forward", "refuse", "black hole", "drop answers"


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.mode = FORWARD
        self.port = 0
        self._server: asyncio.Server | None = None
        # Every accepted connection's transports, (client, upstream or None).
        self._links: set[tuple[asyncio.Transport, asyncio.Transport | None]] = set()
        # Links that an outage froze: their data is dropped until restore() resets them.
        self._frozen: set[tuple[asyncio.Transport, asyncio.Transport | None]] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    # -- control, from the test's thread ------------------------------------------------

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def __exit__(self, *_exc) -> None:
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def refuse(self) -> None:
        self._call(self._set_mode(REFUSE))

    def black_hole(self) -> None:
        self._call(self._set_mode(BLACK_HOLE))

    def drop_answers(self) -> None:
        self._call(self._set_mode(DROP_ANSWERS))

    def restore(self) -> None:
        self._call(self._set_mode(FORWARD))

    def _call(self, coroutine) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    # -- inside the loop -----------------------------------------------------------------

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _set_mode(self, mode: str) -> None:
        self.mode = mode
        if mode == REFUSE:
            self._reset_all()
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()
                self._server = None
        elif mode == BLACK_HOLE:
            self._frozen |= self._links
        elif mode == DROP_ANSWERS:
            pass  # _pump drops what comes back
        else:
            self._reset_all()
            if self._server is None:
                await self._listen()

    async def _shutdown(self) -> None:
        self._reset_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        tasks = asyncio.all_tasks() - {asyncio.current_task()}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _reset_all(self) -> None:
        for link in list(self._links):
            for transport in link:
                if transport is not None:
                    _reset(transport)
        self._links.clear()
        self._frozen.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == BLACK_HOLE:
            link = (writer.transport, None)
            self._links.add(link)
            self._frozen.add(link)
            return  # accepted, never answered
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            _reset(writer.transport)
            return
        link = (writer.transport, up_writer.transport)
        self._links.add(link)
        try:
            await asyncio.gather(
                self._pump(link, reader, up_writer),
                self._pump(link, up_reader, writer, answers=True),
            )
        except asyncio.CancelledError:
            pass  # the proxy is shutting down
        self._links.discard(link)
        self._frozen.discard(link)

    async def _pump(
        self,
        link,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        answers: bool = False,
    ):
        try:
            while data := await reader.read(65536):
                if link in self._frozen or (answers and self.mode == DROP_ANSWERS):
                    continue  # packets go nowhere
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            if link not in self._frozen:
                writer.close()


def _reset(transport: asyncio.Transport) -> None:
    """Close with a TCP reset, as a crashed or restarted server would."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()
