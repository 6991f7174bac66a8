"""Trivial workflows for the codec's end-to-end test: their input and result carry an e-mail address."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ApplicationError


class Contact(BaseModel):
    email: str
    caption: str


@workflow.defn(name="CodecGreet")
class GreetWorkflow:
    @workflow.run
    async def run(self, contact: Contact) -> str:
        workflow.set_current_details(f"greeting {contact.email}")
        return f"hello {contact.email}: {contact.caption}"


@workflow.defn(name="CodecRefuse")
class RefuseWorkflow:
    @workflow.run
    async def run(self, contact: Contact) -> None:
        raise ApplicationError(f"refused {contact.email}", non_retryable=True)
