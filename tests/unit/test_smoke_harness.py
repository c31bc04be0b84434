"""The harness itself: a sample event reaches its handler and a published event is captured."""

from tests.support.api import call
from tests.support.aws import AwsResources


def test_register_sample_creates_version_one_and_publishes_model_registered(aws: AwsResources) -> None:
    response = call("register_model")

    assert response.status == 201
    assert response.body["version"] == 1
    assert [event["detail-type"] for event in aws.published_events()] == ["model.registered"]
