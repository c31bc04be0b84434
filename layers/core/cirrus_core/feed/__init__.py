"""The live feed: an API Gateway WebSocket API that pushes lifecycle events to subscribed clients.

`$connect` verifies the caller's Cognito token and authorizes `WatchFeed`; `subscribe` and
`unsubscribe` store which models a connection follows (each authorized as `GetModel`); the
publisher, an EventBridge target, pushes drift, alert, deployment and pipeline events to the
connections subscribed to the event's model through API Gateway's management API
(docs/monitoring.md, "Live feed").
"""
