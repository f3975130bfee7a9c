import json
import logging

from dhg_core.logs import JsonFormatter, request_id_var


def test_log_records_are_one_json_object_with_the_request_id():
    formatter = JsonFormatter("registry")
    record = logging.makeLogRecord(
        {"name": "registry.http", "levelname": "WARNING", "msg": "slow %s", "args": ("query",), "job": "j-1"}
    )
    token = request_id_var.set("req-42")
    try:
        line = formatter.format(record)
    finally:
        request_id_var.reset(token)
    entry = json.loads(line)
    assert "\n" not in line
    assert entry["level"] == "warning" and entry["service"] == "registry" and entry["msg"] == "slow query"
    assert entry["request_id"] == "req-42" and entry["job"] == "j-1" and entry["ts"].endswith("+00:00")
    assert "request_id" not in json.loads(formatter.format(record))
