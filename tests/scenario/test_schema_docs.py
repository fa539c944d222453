"""`fedwireless schema` documents every field and spells out policy and codec parameters per name."""

from __future__ import annotations

import json

from fedwireless.cli import main
from fedwireless.schema_docs import field_comments


def test_every_field_has_a_description(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    missing = [
        f"{name}.{field}"
        for name, d in schema["$defs"].items()
        for field, prop in d.get("properties", {}).items()
        if not prop.get("description")
    ]
    assert missing == []
    assert (
        "passes over the client's own data"
        in schema["$defs"]["TaskConfig"]["properties"]["local_epochs"]["description"]
    )


def test_policy_and_codec_parameters_per_name(capsys):
    assert main(["schema"]) == 0
    defs = json.loads(capsys.readouterr().out)["$defs"]
    policy = defs["PolicyConfig"]
    assert "lyapunov" in policy["properties"]["name"]["enum"]
    assert "V" in policy["properties"]["params"]["properties"]
    lyap = next(c for c in policy["allOf"] if c["if"]["properties"]["name"]["const"] == "lyapunov")
    assert set(lyap["then"]["properties"]["params"]["propertyNames"]["enum"]) >= {"V", "miss_penalty", "energy_cap_j"}
    nnc = next(c for c in defs["CodecConfig"]["allOf"] if c["if"]["properties"]["name"]["const"] == "nncodec")
    qp = nnc["then"]["properties"]["params"]["properties"]["qp"]
    assert qp["type"] == "integer" and qp["minimum"] == -64 and qp["default"] == -38 and qp["description"]


def test_field_comments_read_trailing_and_preceding_lines():
    class Demo:
        # what comes first
        first: int = 1  # and more
        second: int = 2  # only trailing

        def method(self):  # not a field
            pass

    assert field_comments(Demo) == {"first": "what comes first and more", "second": "only trailing"}
