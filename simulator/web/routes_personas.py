"""Personas, their sources and publishing targets, sync jobs and source posts."""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from simulator.errors import invalid, not_found
from simulator.web.api import ApiContext, ApiRoutes
from simulator.web.http import body, json_response

api = ApiRoutes()

Platform = Literal["instagram", "tiktok", "youtube", "x", "facebook", "threads"]
AutomationMode = Literal["sync_only", "auto_clone", "auto_publish"]


class PersonaBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: StrictStr = Field(min_length=1, max_length=200)
    writing_style: StrictStr = Field(default="", max_length=2000)


class PersonaPatch(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: StrictStr | None = Field(default=None, min_length=1, max_length=200)
    writing_style: StrictStr | None = Field(default=None, max_length=2000)


class SourceBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    platform: Platform
    username: StrictStr = Field(min_length=1, max_length=100, pattern=r"^@?[A-Za-z0-9._-]+$")
    automation_mode: AutomationMode = "sync_only"


class SourcePatch(BaseModel):
    model_config = ConfigDict(extra="ignore")
    automation_mode: AutomationMode


class TargetBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    connected_account_id: StrictStr = Field(min_length=1)


# -- personas -------------------------------------------------------------------------------------
@api.route("POST", "/v1/personas", "personas:write")
async def create_persona(ctx: ApiContext) -> web.Response:
    data = await body(ctx.request, PersonaBody)
    persona = ctx.sim.content.create_persona(ctx.user, data.name, data.writing_style)
    return json_response({"data": persona.to_wire()}, status=201)


@api.route("GET", "/v1/personas", "personas:read")
async def list_personas(ctx: ApiContext) -> web.Response:
    personas = ctx.sim.core.state.personas_of(ctx.user.id)
    return json_response({"data": [p.to_wire() for p in personas]})


@api.route("GET", "/v1/personas/{persona_id}", "personas:read")
async def get_persona(ctx: ApiContext) -> web.Response:
    persona = ctx.sim.content.persona(ctx.user, ctx.match("persona_id"))
    return json_response({"data": persona.to_wire()})


@api.route("PATCH", "/v1/personas/{persona_id}", "personas:write")
async def patch_persona(ctx: ApiContext) -> web.Response:
    persona = ctx.sim.content.persona(ctx.user, ctx.match("persona_id"))
    data = await body(ctx.request, PersonaPatch)
    if data.name is None and data.writing_style is None:
        raise invalid("nothing to change: send name or writing_style")
    if data.name is not None:
        persona.name = data.name
    if data.writing_style is not None:
        persona.writing_style = data.writing_style
    return json_response({"data": persona.to_wire()})


# -- sources --------------------------------------------------------------------------------------
@api.route("POST", "/v1/personas/{persona_id}/sources", "sources:write")
async def add_source(ctx: ApiContext) -> web.Response:
    persona = ctx.sim.content.persona(ctx.user, ctx.match("persona_id"))
    data = await body(ctx.request, SourceBody)
    source = ctx.sim.content.add_source(ctx.user, persona, data.platform, data.username, data.automation_mode)
    return json_response({"data": source.to_wire()}, status=201)


@api.route("GET", "/v1/personas/{persona_id}/sources", "sources:read")
async def list_sources(ctx: ApiContext) -> web.Response:
    persona = ctx.sim.content.persona(ctx.user, ctx.match("persona_id"))
    return json_response({"data": [s.to_wire() for s in ctx.sim.core.state.sources_of(persona.id)]})


@api.route("PATCH", "/v1/personas/{persona_id}/sources/{source_id}", "sources:write")
async def patch_source(ctx: ApiContext) -> web.Response:
    persona = ctx.sim.content.persona(ctx.user, ctx.match("persona_id"))
    source = ctx.sim.content.source(persona, ctx.match("source_id"))
    data = await body(ctx.request, SourcePatch)
    source.automation_mode = data.automation_mode
    return json_response({"data": source.to_wire()})


# -- publishing targets ---------------------------------------------------------------------------
@api.route("POST", "/v1/personas/{persona_id}/publishing-targets", "publishing:write")
async def add_target(ctx: ApiContext) -> web.Response:
    persona = ctx.sim.content.persona(ctx.user, ctx.match("persona_id"))
    data = await body(ctx.request, TargetBody)
    target = ctx.sim.content.add_target(ctx.user, persona, data.connected_account_id)
    return json_response({"data": target.to_wire()}, status=201)


@api.route("GET", "/v1/personas/{persona_id}/publishing-targets", "publishing:read")
async def list_targets(ctx: ApiContext) -> web.Response:
    persona = ctx.sim.content.persona(ctx.user, ctx.match("persona_id"))
    return json_response({"data": [t.to_wire() for t in ctx.sim.core.state.targets_of(persona.id)]})


# -- sync -----------------------------------------------------------------------------------------
@api.route("POST", "/v1/personas/{persona_id}/sync", "sync:write")
async def sync_persona(ctx: ApiContext) -> web.Response:
    persona = ctx.sim.content.persona(ctx.user, ctx.match("persona_id"))
    jobs = ctx.sim.content.start_sync(ctx.user, persona)
    now = ctx.sim.core.now()
    return json_response({"job_ids": [job.id for job in jobs], "jobs": [job.to_wire(now) for job in jobs]})


@api.route("GET", "/v1/sync-jobs/{job_id}", "sources:read")
async def get_sync_job(ctx: ApiContext) -> web.Response:
    job = ctx.sim.core.state.sync_jobs.get(ctx.match("job_id"))
    if job is None or job.user_id != ctx.user.id:
        raise not_found("sync job")
    return json_response({"data": job.to_wire(ctx.now)})


@api.route("GET", "/v1/personas/{persona_id}/source-posts", "content:read")
async def list_source_posts(ctx: ApiContext) -> web.Response:
    persona = ctx.sim.content.persona(ctx.user, ctx.match("persona_id"))
    state = ctx.sim.core.state
    posts = sorted(
        (state.source_posts[pid] for pid in state.visible_post_ids(persona.id)),
        key=lambda post: post.posted_at,
        reverse=True,
    )
    return json_response({"data": [post.to_wire() for post in posts]})
