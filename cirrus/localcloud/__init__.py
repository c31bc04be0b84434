"""The local cloud: Cirrus's template, handlers and state machines on moto, with no AWS account."""
