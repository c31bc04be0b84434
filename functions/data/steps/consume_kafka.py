"""Kafka topic (Amazon MSK) -> data bucket: each invocation's records as one Parquet micro-batch.

An event source mapping on the topic DataKafkaTopic of the cluster DataKafkaClusterArn invokes this
with the records grouped by `<topic>-<partition>`. Each record's value is decoded (base64, then a
JSON object) and checked against the stream's schema (cirrus_connectors.streaming); the accepted rows
are written under `streams/<source>/dt=<day>/hour=<hour>/`, partitioned by each record's timestamp.

Rejected records are reported back as batch item failures (`{"partition": "<topic>-<partition>",
"offset": n}`, Powertools' BatchProcessor with EventType.Kafka). Lambda's MSK and self-managed Kafka
event source mappings support partial batch responses (ReportBatchItemFailures) in provisioned poller
mode (ProvisionedPollerConfig, which the template sets): Lambda retries only the reported records and,
after MaximumRetryAttempts, sends their batch's description to the on-failure queue. A failed write
raises: the whole batch is retried.
"""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.kafka_event import KafkaEventRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_connectors.streaming import StreamRow, arrival_from_epoch_milliseconds, micro_batch_writer
from cirrus_core.observability import logger, metrics, tracer

# A batch whose every record is rejected is reported record by record, like a partial one.
processor = BatchProcessor(event_type=EventType.Kafka, raise_on_entire_batch_failure=False)


def _identifier(record: KafkaEventRecord) -> str:
    return f"{record.topic}-{record.partition}-{record.offset}"


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    writer = micro_batch_writer()  # a bad configuration fails the invocation, not the records
    # A record without a timestamp (timestampType NO_TIMESTAMP_TYPE, timestamp -1) arrived now.
    received = datetime.now(UTC)

    def accept(record: KafkaEventRecord) -> StreamRow:
        arrival = arrival_from_epoch_milliseconds(record.timestamp) if record.timestamp >= 0 else received
        return writer.accept(_identifier(record), record.decoded_value, arrival)

    records = [record for partition in event.get("records", {}).values() for record in partition]
    with processor(records, accept, lambda_context=context):
        outcomes = processor.process()
    rows = [result for status, result, _ in outcomes if status == "success"]
    written = writer.write(rows)

    rejected = [(reason, _identifier(record)) for status, reason, record in outcomes if status == "fail"]
    for reason, identifier in rejected:
        logger.warning("Stream record rejected", extra={"record": identifier, "reason": reason})
    logger.info(
        "Stream micro-batch written",
        extra={
            "source": writer.source,
            "rows": len(rows),
            "rejected": len(rejected),
            "objects": [o.key for o in written],
        },
    )
    metrics.add_metric(name="StreamRecordsWritten", unit=MetricUnit.Count, value=len(rows))
    metrics.add_metric(name="StreamRecordsRejected", unit=MetricUnit.Count, value=len(rejected))
    return dict(processor.response())
