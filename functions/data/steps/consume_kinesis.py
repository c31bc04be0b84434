"""Kinesis stream -> data bucket: each invocation's records as one Parquet micro-batch.

An event source mapping on the stream named by the DataKinesisStreamArn parameter invokes this with
batches of records (ReportBatchItemFailures on). Each record's data is decoded (base64, then a JSON
object) and checked against the stream's schema (cirrus_connectors.streaming); the accepted rows are
written under `streams/<source>/dt=<day>/hour=<hour>/` and the rejected records are reported by
sequence number through Powertools' BatchProcessor. Lambda then retries the stream from the lowest
reported sequence number, so accepted records after it arrive again (at-least-once: a retried record
may be written twice); after MaximumRetryAttempts the batch's description goes to the on-failure queue.
A failed write raises: the whole batch is retried.
"""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_connectors.streaming import StreamRow, arrival_from_epoch_seconds, micro_batch_writer
from cirrus_core.observability import logger, metrics, tracer

# A batch whose every record is rejected is reported record by record, like a partial one.
processor = BatchProcessor(event_type=EventType.KinesisDataStreams, raise_on_entire_batch_failure=False)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    writer = micro_batch_writer()  # a bad configuration fails the invocation, not the records

    def accept(record: KinesisStreamRecord) -> StreamRow:
        arrival = arrival_from_epoch_seconds(record.kinesis.approximate_arrival_timestamp)
        return writer.accept(record.event_id, record.kinesis.data_as_bytes(), arrival)

    with processor(event.get("Records", []), accept, lambda_context=context):
        outcomes = processor.process()
    rows = [result for status, result, _ in outcomes if status == "success"]
    written = writer.write(rows)

    rejected = [(reason, record.event_id) for status, reason, record in outcomes if status == "fail"]
    for reason, event_id in rejected:
        logger.warning("Stream record rejected", extra={"record": event_id, "reason": reason})
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
