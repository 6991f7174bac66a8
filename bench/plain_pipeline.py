"""The post pipeline as a plain asyncio script over the `reelmirror` client: what the workflows are weighed
against in the overhead bench.

For every source post at once: generate, poll the media with the guide's fixed loop, approve, poll the
deliveries the same way. No durability, no exactly-once guard, no retries: the least a script can do.
Reads the API base, key and posts from the environment and a JSON file; prints its own CPU seconds (the
pipeline only, after imports and setup) as JSON on the last line.
Run by `bench.overhead`: `python -m bench.plain_pipeline POSTS.json`.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench.guide_loops import JobRef, guide_fixed
from bench.rig import SCRIPT_AGENT
from reelmirror.client import ReelMirrorClient


async def one_post(client: ReelMirrorClient, persona_id: str, source_post_id: str, media: str, scale: float) -> str:
    generated = await client.generate(source_post_id, persona_id)
    await guide_fixed(client, JobRef(media, generated.generated_post_id), time.time, scale)
    approved = await client.approve(generated.generated_post_id)
    assert approved.outgoing_post_id, "approve returned no outgoing post"
    await guide_fixed(client, JobRef("delivery", approved.outgoing_post_id), time.time, scale)
    return approved.outgoing_post_id


async def main(spec: dict[str, Any]) -> None:
    client = ReelMirrorClient(os.environ["PLAIN_BASE_URL"], token=os.environ["PLAIN_API_KEY"], user_agent=SCRIPT_AGENT)
    started_cpu, started = time.process_time(), time.monotonic()
    done = await asyncio.gather(
        *(one_post(client, spec["persona_id"], p["id"], p["kind"], spec["time_scale"]) for p in spec["posts"])
    )
    cpu = time.process_time() - started_cpu
    await client.aclose()
    print(json.dumps({"posts": len(done), "cpu_s": cpu, "seconds": time.monotonic() - started}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(json.loads(Path(sys.argv[1]).read_text())))
