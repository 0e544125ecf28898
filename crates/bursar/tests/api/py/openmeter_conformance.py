"""Drives Bursar's metering API with the official OpenMeter Python client (PyPI `openmeter`).

Usage: openmeter_conformance.py SPEC_FILE

SPEC_FILE is JSON: {"endpoint", "token", "steps": [...]}. Each step is run in order through the
client and gives one entry of the JSON list printed on stdout:

  {"op": "create_meter", "meter": {slug, aggregation, eventType, valueProperty?, groupBy?}}
      -> the created meter, as the client parsed it
  {"op": "ingest_event", "event": {id, source, type, subject, time (unix seconds), data}}
      -> null                                   (client.events.ingest_event)
  {"op": "ingest_events", "events": [...]}      -> null  (client.events.ingest_events)
  {"op": "get_meter", "slug"}                   -> {"bySlug": meter, "byId": meter}
  {"op": "list_meters"}                         -> [meter, ...]
  {"op": "query", "meter": slug, "byId"?: bool, "from"?, "to"? (unix seconds), "windowSize"?,
   "windowTimeZone"?, "subject"?: [...], "groupBy"?: [...], "params"?: {raw query parameters}}
      -> {"from", "to" (unix seconds or null), "windowSize", "data": [{value, windowStart,
          windowEnd (unix seconds), subject, groupBy}]}
  {"op": "errors", "missingMeter": slug}
      -> how the client reports a wrong token and an unknown meter

Every value printed is read through the client's typed models (attributes, not the raw JSON),
so a response the client cannot parse fails here.
"""
import datetime
import json
import sys

from corehttp.exceptions import HttpResponseError
from openmeter import Client
from openmeter.models import Event, Meter, MeterCreate, MeterQueryResult, MeterQueryRow

UTC = datetime.timezone.utc


def fail(message):
    raise AssertionError(message)


def instant(seconds):
    return datetime.datetime.fromtimestamp(seconds, UTC)


def seconds(value, what, whole=True):
    """Unix seconds of a datetime the client parsed; it must be timezone-aware. Window bounds
    are whole seconds; a meter's timestamps may have a fraction."""
    if value is None:
        return None
    if not isinstance(value, datetime.datetime) or value.tzinfo is None:
        fail(f"{what}: {value!r} is not an aware datetime")
    at = value.timestamp()
    if not whole:
        return at
    if at != int(at):
        fail(f"{what}: {value!r} is not a whole second")
    return int(at)


def enum_text(value):
    return getattr(value, "value", value)


def meter_dict(meter):
    if not isinstance(meter, Meter):
        fail(f"not a Meter: {meter!r}")
    group_by = meter.group_by
    if group_by is not None and not isinstance(group_by, dict):
        fail(f"groupBy {group_by!r} is not a dict")
    return {
        "id": meter.id,
        "slug": meter.slug,
        "name": meter.name,
        "aggregation": enum_text(meter.aggregation),
        "eventType": meter.event_type,
        "valueProperty": meter.value_property,
        "groupBy": group_by,
        "createdAt": seconds(meter.created_at, "createdAt", whole=False),
        "updatedAt": seconds(meter.updated_at, "updatedAt", whole=False),
        "deletedAt": seconds(meter.deleted_at, "deletedAt", whole=False),
    }


def row_dict(row):
    if not isinstance(row, MeterQueryRow):
        fail(f"not a MeterQueryRow: {row!r}")
    value = row.value
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        fail(f"value {value!r} is not a number")
    group_by = row.group_by
    if not isinstance(group_by, dict):
        fail(f"groupBy {group_by!r} is not a dict")
    return {
        "value": float(value),
        "windowStart": seconds(row.window_start, "windowStart"),
        "windowEnd": seconds(row.window_end, "windowEnd"),
        "subject": row.subject,
        "groupBy": group_by,
    }


def result_dict(result):
    if not isinstance(result, MeterQueryResult):
        fail(f"not a MeterQueryResult: {result!r}")
    return {
        "from": seconds(result.from_property, "from"),
        "to": seconds(result.to, "to"),
        "windowSize": enum_text(result.window_size),
        "data": [row_dict(row) for row in result.data],
    }


def event(spec):
    return Event(
        id=spec["id"],
        source=spec["source"],
        specversion="1.0",
        type=spec["type"],
        subject=spec["subject"],
        time=instant(spec["time"]),
        data=spec["data"],
    )


def error_dict(call):
    try:
        call()
    except HttpResponseError as error:
        return {"type": type(error).__name__, "status": error.status_code}
    fail("the call did not fail")


def run(client, spec, step):
    op = step["op"]
    if op == "create_meter":
        m = step["meter"]
        created = client.meters.create(
            MeterCreate(
                slug=m["slug"],
                aggregation=m["aggregation"],
                event_type=m["eventType"],
                value_property=m.get("valueProperty"),
                group_by=m.get("groupBy"),
            )
        )
        return meter_dict(created)
    if op == "ingest_event":
        return client.events.ingest_event(event(step["event"]))
    if op == "ingest_events":
        return client.events.ingest_events([event(e) for e in step["events"]])
    if op == "get_meter":
        by_slug = client.meters.get(step["slug"])
        by_id = client.meters.get(by_slug.id)
        return {"bySlug": meter_dict(by_slug), "byId": meter_dict(by_id)}
    if op == "list_meters":
        return [meter_dict(m) for m in client.meters.list()]
    if op == "query":
        key = step["meter"]
        if step.get("byId"):
            key = client.meters.get(key).id
        kwargs = {}
        if "from" in step:
            kwargs["from_parameter"] = instant(step["from"])
        if "to" in step:
            kwargs["to"] = instant(step["to"])
        if "windowSize" in step:
            kwargs["window_size"] = step["windowSize"]
        if "windowTimeZone" in step:
            kwargs["window_time_zone"] = step["windowTimeZone"]
        if "subject" in step:
            kwargs["subject"] = step["subject"]
        if "groupBy" in step:
            kwargs["group_by"] = step["groupBy"]
        if "advanced" in step:
            # The client serializes this argument with json.dumps: FilterStrings as plain dicts
            # (its FilterString model objects are not JSON-serializable there).
            kwargs["advanced_meter_group_by_filters"] = dict(step["advanced"])
        if "params" in step:
            # The client's own pass-through for query parameters.
            kwargs["params"] = dict(step["params"])
        return result_dict(client.meters.query_json(meter_id_or_slug=key, **kwargs))
    if op == "errors":
        with Client(endpoint=spec["endpoint"], token="not-a-key") as stranger:
            unauthorized = error_dict(lambda: stranger.meters.list())
        missing = error_dict(lambda: client.meters.get(step["missingMeter"]))
        return {"unauthorized": unauthorized, "missingMeter": missing}
    fail(f"unknown op {op!r}")


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    results = []
    with Client(endpoint=spec["endpoint"], token=spec["token"]) as client:
        for index, step in enumerate(spec["steps"]):
            try:
                results.append(run(client, spec, step))
            except HttpResponseError as error:
                response = error.response
                body = response.text() if response is not None else ""
                sys.stderr.write(
                    f"step {index} ({step['op']}): {type(error).__name__} "
                    f"{error.status_code}: {body}\n"
                )
                raise
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
