"""Writing many WebSocket messages at once, for the simulated venues' socket writers.

`websockets` sends each message with its own socket write, so a busy feed costs one system call
per frame. A venue server under load coalesces frames that are ready at the same time into one TCP
write; `send_texts` does the same: every message is still its own text frame (what the client
sees is unchanged), but the frames go out in one write, inside the library's own send context (state
checks, closing, and flow control: it waits while the transport's buffer is above its high-water
mark, so a slow client still pushes back).
"""

from __future__ import annotations

from collections.abc import Sequence

from websockets.asyncio.connection import Connection

__all__ = ["send_texts"]


async def send_texts(ws: Connection, texts: Sequence[str]) -> None:
    """Send each text as its own frame, all in one socket write; raises `ConnectionClosed` when the
    connection is closed, like `Connection.send`."""
    if len(texts) == 1:
        await ws.send(texts[0])
        return
    async with ws.send_context():
        protocol = ws.protocol
        for text in texts:
            protocol.send_text(text.encode())
        chunks = protocol.data_to_send()
        if all(chunks):
            ws.transport.write(b"".join(chunks))
        else:  # an empty chunk asks for a half-close: keep the library's own order of writes
            for chunk in chunks:
                if chunk:
                    ws.transport.write(chunk)
                elif ws.transport.can_write_eof():
                    ws.transport.write_eof()
