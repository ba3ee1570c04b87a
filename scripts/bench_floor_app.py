"""The floor of scripts/bench_intake.py: a bare FastAPI endpoint that validates the same event
body as fangpin's intake and stores nothing."""

import gc

from fastapi import FastAPI

from policies.benefits import EventIn

app = FastAPI()
gc.freeze()  # as fangpin does at start-up


@app.post("/api/events", status_code=202)
def receive(event: EventIn) -> dict:
    return {"event_id": event.event_id, "result": "accepted"}
