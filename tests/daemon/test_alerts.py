"""A running `arb run` posts its incident notification to the configured webhook (a loopback
receiver the test starts; acceptance 3), and the configured kill-switch signal stops new plans."""

from __future__ import annotations

import json
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.daemon.support import Daemon, write_config


class Receiver:
    """A webhook on loopback: every POST body, parsed."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.arrived = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                outer.bodies.append(json.loads(self.rfile.read(length)))
                outer.arrived.set()
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/webhook/token-in-the-path"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_an_incident_reaches_the_webhook_and_the_kill_signal_stops_plans(tmp_path: Path) -> None:
    receiver = Receiver()
    config = write_config(tmp_path, **{"notifications.enabled": "true", "notifications.format": '"discord"'})
    daemon = Daemon("--config", str(config), env={"ARB_WEBHOOK_URL": receiver.url})
    try:
        incident = daemon.event("incident", timeout_s=90)  # a contested opening: a partial fill
        assert receiver.arrived.wait(30), "no notification reached the webhook"
        body = receiver.bodies[0]
        assert body["embeds"] and incident["set_id"] in json.dumps(body)  # Discord's shape
        assert "token-in-the-path" not in "".join(daemon.raw)  # the URL is a secret: never logged
        daemon.signal(signal.SIGUSR1)  # risk.kill_switch_signal in the default config
        killed = daemon.event("kill_switch")
        assert killed["source"] == "signal" and killed["signal"] == "SIGUSR1"
        started = daemon.wait_for(lambda e: e.get("event") == "executing", after=killed)
        outcome = daemon.wait_for(
            lambda e: e.get("event") == "plan" and e["set_id"] == started["set_id"], after=started
        )
        assert outcome["status"] == "refused" and any("kill switch" in r for r in outcome["refusals"])
        daemon.signal(signal.SIGTERM)
        assert daemon.finish() == 0
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
        receiver.close()
