"""Every recorded sample decodes, and every field in them is modelled."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from aioglif import Glif, Graph, Node, ResponseDecodeError, RunResult
from aioglif import models as m
from aioglif._protocol import decode

SAMPLES = Path(__file__).parent / "samples"
# Which model each sample is a body of; the .jsonc one is deliberately invalid JSON.
SAMPLE_TYPES: dict[str, Any] = {
    "glifs-by-id.json": list[Glif],
    "seed-create-glif-response.json": Glif,
    "simple-api-run.docs-example-2023-legacy.json": RunResult,
    "simple-api-run.docs-example-2024.json": RunResult,
    "simple-api-run.docs-example-2025.json": RunResult,
    "simple-api-run-text-output.json": RunResult,
    "simple-api-run-text-output-2.json": RunResult,
}
# Hand-written docs examples stand "..." in for what they leave out; nothing else may be unmodelled.
PLACEHOLDER = "..."


def test_every_sample_is_classified() -> None:
    on_disk = {p.name for p in SAMPLES.iterdir() if p.suffix in (".json", ".jsonc")}
    assert on_disk == set(SAMPLE_TYPES) | {"seed-create-glif-request.json", "glifs-by-id.docs-verbatim.jsonc"}


@pytest.mark.parametrize("name", sorted(SAMPLE_TYPES))
def test_sample_decodes(name: str) -> None:
    body = (SAMPLES / name).read_bytes()
    value = msgspec.json.decode(body, type=SAMPLE_TYPES[name])
    assert value


def _walk(value: Any, info: msgspec.inspect.Type, path: str) -> list[str]:
    """Paths of the keys in ``value`` that the type does not model."""
    if isinstance(info, msgspec.inspect.UnionType):
        for option in info.types:
            if isinstance(value, dict) and isinstance(option, msgspec.inspect.StructType):
                return _walk(value, option, path)
            if isinstance(value, list) and isinstance(option, msgspec.inspect.ListType):
                return _walk(value, option, path)
        return []
    if isinstance(info, msgspec.inspect.StructType) and isinstance(value, dict):
        fields = {f.encode_name: f for f in info.fields}
        out = []
        for key, item in value.items():
            if key in fields:
                out += _walk(item, fields[key].type, f"{path}.{key}")
            else:
                out.append(f"{path}.{key}")
        return out
    if isinstance(info, msgspec.inspect.ListType) and isinstance(value, list):
        return [p for i, item in enumerate(value) for p in _walk(item, info.item_type, f"{path}[{i}]")]
    return []


def unmodelled(body: bytes, tp: Any) -> list[str]:
    return _walk(json.loads(body), msgspec.inspect.type_info(tp), "$")


@pytest.mark.parametrize("name", sorted(SAMPLE_TYPES))
def test_no_sample_field_is_left_unmodelled(name: str) -> None:
    missing = unmodelled((SAMPLES / name).read_bytes(), SAMPLE_TYPES[name])
    assert [p for p in missing if not p.endswith("." + PLACEHOLDER)] == [], f"{name}: not modelled: {missing}"


def test_the_strict_check_names_unknown_fields() -> None:
    body = b'[{"id": "g", "brandNew": 1, "user": {"id": "u", "shoeSize": 44}}]'
    assert unmodelled(body, list[Glif]) == ["$[0].brandNew", "$[0].user.shoeSize"]


def test_glif_sample_values() -> None:
    (glif,) = msgspec.json.decode((SAMPLES / "glifs-by-id.json").read_bytes(), type=list[Glif])
    assert glif.id == "clkbasluf0000mi08h541a3j4"
    assert glif.created_at == datetime(2023, 7, 20, 15, 19, 11, 511000, tzinfo=timezone.utc)
    assert glif.published_at is None and glif.image_url is None
    assert glif.likes == 0 and glif.comments is None  # the 2023 _count has only likes
    assert glif.user is not None and glif.user.username == "tanaki"
    assert glif.data is not None and [n.type for n in glif.data.nodes] == [
        "TextInputBlock",
        "GlifBlock",
        "GlifBlock",
        "GPTBlock",
    ]
    gpt = glif.data.node("text1")
    assert gpt is not None and gpt.params["maxTokens"] == 500


def _glif(extra: bytes = b"") -> bytes:
    """A glif body with the fields every source has, and ``extra`` keys."""
    head = (
        b'{"id": "g", "name": "n", "createdAt": "2024-01-01T00:00:00.000Z",'
        b' "updatedAt": "2024-01-01T00:00:00.000Z", "userId": "u"'
    )
    return head + (b", " + extra if extra else b"") + b"}"


def test_counts_in_either_form() -> None:
    a = msgspec.json.decode(_glif(b'"_count": {"likes": 3, "comments": 1}'), type=Glif)
    b = msgspec.json.decode(_glif(b'"likeCount": 3, "commentCount": 1'), type=Glif)
    assert (a.likes, a.comments) == (b.likes, b.comments) == (3, 1)


def test_prices_are_decimals() -> None:
    result = msgspec.json.decode(
        (SAMPLES / "simple-api-run.docs-example-2025.json").read_bytes(), type=RunResult
    )
    assert result.price == Decimal("2.1000875")
    run = msgspec.json.decode(b'{"id": "r", "totalSellingPriceCredits": "0.1", "spellId": "g"}', type=m.Run)
    assert run.price == Decimal("0.1") and run.glif_id == "g"


def test_real_run_results() -> None:
    result = msgspec.json.decode((SAMPLES / "simple-api-run-text-output.json").read_bytes(), type=RunResult)
    assert result.output_full is not None and result.output_full.type == "TEXT"
    assert result.output_full.value == result.output
    assert result.inputs == {
        "prompt": "John and mary go mountain biking in the alps",
        "imagestyle": "comic book style using 8-bit pixel graphics",
    }
    legacy = msgspec.json.decode(
        (SAMPLES / "simple-api-run.docs-example-2023-legacy.json").read_bytes(), type=RunResult
    )
    assert legacy.input == "cute friendly oval shaped bot friend" and legacy.id is None


def test_nulls_everywhere_optional_decode() -> None:
    body = _glif(
        b'"description": null, "user": {"id": "u", "image": null, "name": null},'
        b' "averageDuration": null, "completedSpellRunCount": null, "data": null, "publishedAt": null,'
        b' "imageUrl": null, "output": null, "outputType": null, "forkedFromId": null, "featuredAt": null'
    )
    glif = msgspec.json.decode(body, type=Glif)
    assert glif.user is not None and glif.user.image is None and glif.data is None


def test_unknown_block_types_round_trip() -> None:
    request = json.loads((SAMPLES / "seed-create-glif-request.json").read_bytes())
    graph = msgspec.convert(request["graph"], Graph)
    assert msgspec.to_builtins(graph) == request["graph"]
    odd = {"nodes": [{"name": "x", "type": "HologramBlock", "params": {"beam": [1, {"a": None}]}}]}
    assert msgspec.to_builtins(msgspec.convert(odd, Graph)) == odd
    assert Node(name="n", type="T").params == {}


def test_docs_verbatim_body_is_a_decode_error_not_a_crash() -> None:
    body = (SAMPLES / "glifs-by-id.docs-verbatim.jsonc").read_bytes()
    with pytest.raises(ResponseDecodeError) as info:
        decode(m.GLIF.many.decode, body, method="GET", url="http://127.0.0.1/api/glifs")
    assert info.value.malformed
    assert isinstance(info.value.__cause__, msgspec.DecodeError)


def test_wrong_shape_names_the_json_path() -> None:
    with pytest.raises(ResponseDecodeError) as info:
        decode(m.GLIF.many.decode, b"[" + _glif() + b', {"id": 5}]', method="GET", url="u")
    assert info.value.path == "$[1].id"
    assert not info.value.malformed
    assert "$[1].id" in str(info.value)


def test_models_are_immutable() -> None:
    glif = msgspec.json.decode(_glif(), type=Glif)
    with pytest.raises(AttributeError):
        glif.name = "b"  # type: ignore[misc]
