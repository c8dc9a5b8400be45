"""A TCP proxy in front of the kube-apiserver that can black-hole it: connections are accepted and
held, nothing is forwarded and nothing answered - what a client sees when a network path or a node
drops packets, rather than refusing them (a stopped apiserver refuses: a different, easier failure).

TLS passes through untouched (the proxy sees bytes only), so a kubeconfig pointing at the proxy works
with the apiserver's certificate (it covers 127.0.0.1). An asyncio loop in a thread of the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path
from typing import Any

import yaml


class BlackholeProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="blackhole-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._holed = False
        # Connections opened before or during a black hole: they stay silent for good (the peer they
        # talked to is gone, and its resets were lost), unless restore(reset=True) closes them.
        self._doomed: set[asyncio.StreamWriter] = set()
        self._live: set[asyncio.StreamWriter] = set()

    def start(self) -> BlackholeProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def blackhole(self) -> None:
        """From now on: hold every connection, old and new; forward nothing either way."""
        self._call(self._blackhole)

    def restore(self, reset: bool = False) -> None:
        """New connections are forwarded again. The held ones stay silent (reset=True closes them)."""
        self._call(self._restore, reset)

    def kubeconfig(self, original: Path, target: Path) -> Path:
        """A copy of `original` whose server is this proxy."""
        config: dict[str, Any] = yaml.safe_load(original.read_text())
        for cluster in config["clusters"]:
            cluster["cluster"]["server"] = f"https://127.0.0.1:{self.port}"
        target.write_text(yaml.safe_dump(config))
        return target

    def _call(self, function: Any, *args: Any) -> None:
        async def run() -> None:
            function(*args)

        asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=10)

    def _blackhole(self) -> None:
        self._holed = True
        self._doomed |= self._live
        self._live.clear()

    def _restore(self, reset: bool) -> None:
        self._holed = False
        if reset:
            for writer in self._doomed:
                writer.transport.abort()
            self._doomed.clear()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._doomed | self._live:
            writer.transport.abort()
        # The held connections' tasks wait forever by design: end them before the loop stops.
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    async def _accept(self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        if self._holed:  # accepted, then nothing: the client's TLS handshake never gets an answer
            self._doomed.add(client)
            with contextlib.suppress(Exception):
                while await client_reader.read(65536):
                    pass
            return
        try:
            upstream_reader, upstream = await asyncio.open_connection(*self.upstream)
        except OSError:
            client.transport.abort()  # the apiserver itself is down: refuse, as it would
            return
        self._live.add(client)
        pipes = [
            asyncio.create_task(self._pipe(client_reader, upstream, client)),
            asyncio.create_task(self._pipe(upstream_reader, client, client)),
        ]
        # Either side closing closes both (a doomed connection's pipes never end: see _pipe).
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        for task in pipes:
            task.cancel()
        client.transport.abort()
        upstream.transport.abort()
        self._live.discard(client)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, client: asyncio.StreamWriter
    ) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                if client in self._doomed:
                    continue  # black-holed: read and dropped, so neither side ever hears back
                writer.write(data)
                await writer.drain()
        if client in self._doomed:  # the other side closed: the doomed client still hears nothing
            await asyncio.Event().wait()
