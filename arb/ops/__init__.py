"""Operations: Prometheus metrics (`metrics`), structured logs with redaction (`logs`) and webhook
notifications in Discord's and Slack's shapes (`notify`). The daemon wires them; each stands alone
and is tested on loopback."""
