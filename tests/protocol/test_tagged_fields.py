"""The schema walk that finds and strips unknown tagged fields."""

from __future__ import annotations

import pytest
from kio.schema.api_versions.v3.request import ApiVersionsRequest
from kio.schema.fetch.v12.response import FetchResponse
from kio.serial import entity_reader

from rafka.protocol import request_class, response_class
from rafka.protocol._kio import encode_entity
from rafka.protocol.tagged_fields import TagScanError, read_tolerant, strip_unknown_tags
from tests.protocol.protocol_strategies import ALL_VERSIONS, populated, version_id


@pytest.mark.parametrize("case", ALL_VERSIONS, ids=version_id)
def test_walk_matches_kio_encoding_exactly(case: tuple[int, int]) -> None:
    # With nothing unknown, the walk consumes exactly kio's encoding and reproduces it.
    for cls in (request_class(*case), response_class(*case)):
        data = encode_entity(populated(cls))
        scan = strip_unknown_tags(cls, b"prefix" + data + b"suffix", len(b"prefix"))
        assert scan.end == len(b"prefix") + len(data)
        assert scan.data == data
        assert scan.unknown == ()
        assert all(t.known for t in scan.tags)


def test_unknown_tags_inside_a_known_tagged_struct() -> None:
    # Fetch v12 PartitionData.current_leader is a tagged struct with its own tag section.
    response = populated(FetchResponse)
    data = encode_entity(response)
    leader = response.responses[0].partitions[0].current_leader
    # current_leader is tag 1: varint tag, varint size (9), int32, int32, empty tags.
    needle = (
        bytes([1, 9])
        + leader.leader_id.to_bytes(4, "big")
        + leader.leader_epoch.to_bytes(4, "big")
        + b"\x00"
    )
    at = data.index(needle)
    grown = bytes([1, 13]) + needle[2:-1] + b"\x01\x63\x02ab"
    tampered = data[:at] + grown + data[at + len(needle) :]
    with pytest.raises(KeyError):
        entity_reader(FetchResponse)(tampered, 0)
    decoded, end, skipped = read_tolerant(FetchResponse, tampered, 0)
    assert decoded == response
    assert end == len(tampered)
    assert [(t.path, t.tag) for t in skipped] == [
        ("FetchResponse.responses[0].partitions[0].current_leader", 0x63)
    ]


def test_truncated_input_is_a_scan_error() -> None:
    data = encode_entity(
        ApiVersionsRequest(client_software_name="abc", client_software_version="1")
    )
    for cut in range(len(data)):
        with pytest.raises(TagScanError):
            strip_unknown_tags(ApiVersionsRequest, data[:cut])


def test_tag_size_must_match_its_value() -> None:
    good = populated(FetchResponse)
    data = encode_entity(good)
    scan = strip_unknown_tags(FetchResponse, data)
    assert scan.tags  # populated sets the tagged fields
    # Corrupt a known tag's declared size: its value no longer fits.
    leader = good.responses[0].partitions[0].current_leader
    needle = bytes([1, 9]) + leader.leader_id.to_bytes(4, "big")
    at = data.index(needle)
    broken = data[: at + 1] + b"\x0a" + data[at + 2 :] + b"\x00"
    with pytest.raises(TagScanError, match="declares 10 bytes"):
        strip_unknown_tags(FetchResponse, broken)


def test_read_tolerant_returns_absolute_end_offsets() -> None:
    request = ApiVersionsRequest(client_software_name="abc", client_software_version="1")
    data = encode_entity(request)
    padded = b"\xff" * 7 + data + b"\xee" * 3
    assert read_tolerant(ApiVersionsRequest, padded, 7) == (request, 7 + len(data), ())
    tampered = b"\xff" * 7 + data[:-1] + b"\x01\x05\x01\x00" + b"\xee" * 3
    decoded, end, skipped = read_tolerant(ApiVersionsRequest, tampered, 7)
    assert (decoded, end, [t.tag for t in skipped]) == (request, len(tampered) - 3, [5])
