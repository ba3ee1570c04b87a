"""Operations: structured request logs."""

import json
import logging

from claims.logs import configure_logging


def test_each_request_is_logged_as_one_json_object(client, capsys):
    configure_logging("INFO", "json")
    try:
        response = client.get("/healthz", headers={"x-request-id": "abc123"})
        assert response.headers["x-request-id"] == "abc123"
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()
                 if line.startswith("{")]
        request = next(line for line in lines if line.get("logger") == "fangpin.http")
        assert request["request_id"] == "abc123"
        assert request["path"] == "/healthz" and request["status"] == 200
        assert request["level"] == "INFO" and request["duration_ms"] >= 0
    finally:
        logging.getLogger().handlers.clear()
