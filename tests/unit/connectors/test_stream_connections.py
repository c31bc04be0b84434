"""Kinesis and Kafka sources: connection tests only (their records arrive through event source mappings)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cirrus_connectors import kafka, kinesis
from cirrus_connectors.base import ConnectionFailed, ExtractionRefused, ExtractRequest, SourceConfig

REGION = "eu-west-1"


# ------------------------------------------------------------------------------------------ kinesis


@pytest.fixture
def kinesis_client() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("kinesis", region_name=REGION)
        client.create_stream(StreamName="clicks", ShardCount=1)
        yield client


def kinesis_source(**connection: Any) -> SourceConfig:
    return SourceConfig(name="clicks", type="kinesis", connection={"region": REGION, **connection})


def test_a_kinesis_test_describes_the_stream_and_reports_milliseconds(kinesis_client: Any) -> None:
    latency = kinesis.open(kinesis_source(stream_name="clicks"), client=kinesis_client).test()

    assert isinstance(latency, float)
    assert latency >= 0.0


def test_the_default_kinesis_client_takes_its_region_from_the_stream_arn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(boto3, "client", lambda *args, **kwargs: calls.append(kwargs))
    arn = "arn:aws:kinesis:ap-south-1:123456789012:stream/c"

    kinesis.kinesis_client(SourceConfig(name="c", type="kinesis", connection={"stream_arn": arn}))

    assert calls == [{"region_name": "ap-south-1"}]


def test_a_kinesis_stream_may_be_named_by_its_arn(kinesis_client: Any) -> None:
    arn = kinesis_client.describe_stream_summary(StreamName="clicks")["StreamDescriptionSummary"]["StreamARN"]

    assert kinesis.open(kinesis_source(stream_arn=arn), client=kinesis_client).test() >= 0.0


def test_a_missing_kinesis_stream_is_a_connection_failure(kinesis_client: Any) -> None:
    connector = kinesis.open(kinesis_source(stream_name="no-such-stream"), client=kinesis_client)

    with pytest.raises(ConnectionFailed, match="Kinesis did not describe the stream") as failure:
        connector.test()

    assert failure.value.driver_error is not None
    assert "ResourceNotFoundException" in failure.value.driver_error


def test_a_kinesis_source_without_a_stream_is_refused(kinesis_client: Any) -> None:
    with pytest.raises(ExtractionRefused, match="stream_name"):
        kinesis.open(kinesis_source(), client=kinesis_client)


def test_a_kinesis_source_cannot_be_extracted(kinesis_client: Any) -> None:
    connector = kinesis.open(kinesis_source(stream_name="clicks"), client=kinesis_client)

    with pytest.raises(ExtractionRefused, match="event source mapping"):
        connector.extract(ExtractRequest())


def test_the_default_kinesis_client_uses_the_region_and_the_secrets_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    monkeypatch.setattr(boto3, "client", lambda *args, **kwargs: calls.append((args, kwargs)))
    cross_account = SourceConfig(
        name="clicks",
        type="kinesis",
        connection={"region": REGION, "stream_name": "clicks"},
        secret={"aws_access_key_id": "AKIAEXAMPLE", "aws_secret_access_key": "wJalr/EXAMPLEKEY"},
    )

    kinesis.kinesis_client(cross_account)

    assert calls == [
        (
            ("kinesis",),
            {
                "region_name": REGION,
                "aws_access_key_id": "AKIAEXAMPLE",
                "aws_secret_access_key": "wJalr/EXAMPLEKEY",
            },
        )
    ]


# ------------------------------------------------------------------------------------------ kafka


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A local port that accepts TCP connections (the kernel completes the handshake from the backlog)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield int(server.getsockname()[1])


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on (bound to find a free one, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def kafka_source(bootstrap_servers: Any) -> SourceConfig:
    return SourceConfig(name="orders", type="kafka", connection={"bootstrap_servers": bootstrap_servers})


def test_a_kafka_test_connects_to_every_bootstrap_broker(listening_port: int) -> None:
    connector = kafka.open(kafka_source(f"127.0.0.1:{listening_port},localhost:{listening_port}"))

    latency = connector.test()

    assert isinstance(latency, float)
    assert latency >= 0.0


def test_a_broker_that_refuses_the_connection_is_named(listening_port: int, closed_port: int) -> None:
    connector = kafka.open(kafka_source([f"127.0.0.1:{listening_port}", f"127.0.0.1:{closed_port}"]))

    with pytest.raises(ConnectionFailed) as failure:
        connector.test()

    assert failure.value.message.startswith(
        f"Kafka broker 127.0.0.1:{closed_port} did not accept a connection: "
    )
    assert failure.value.driver_error is not None


@pytest.mark.parametrize(
    ("servers", "brokers"),
    [
        (
            "b-1.msk.example:9094, b-2.msk.example:9094",
            [("b-1.msk.example", 9094), ("b-2.msk.example", 9094)],
        ),
        (["broker.internal"], [("broker.internal", kafka.DEFAULT_PORT)]),
        ("[::1]:9093", [("::1", 9093)]),
    ],
)
def test_bootstrap_servers_are_parsed_as_host_and_port(servers: Any, brokers: list[tuple[str, int]]) -> None:
    assert kafka.bootstrap_brokers(kafka_source(servers)) == brokers


@pytest.mark.parametrize("servers", ["", [], "broker:notaport", "broker:70000", ":9092"])
def test_bad_bootstrap_servers_are_refused(servers: Any) -> None:
    with pytest.raises(ExtractionRefused, match="bootstrap"):
        kafka.open(kafka_source(servers))


def test_a_kafka_source_cannot_be_extracted(listening_port: int) -> None:
    with pytest.raises(ExtractionRefused, match="event source mapping"):
        kafka.open(kafka_source(f"127.0.0.1:{listening_port}")).extract(ExtractRequest())
