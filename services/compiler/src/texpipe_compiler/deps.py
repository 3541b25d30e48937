"""Annotated aliases for what handlers receive from the FastStream context."""

from typing import Annotated

from faststream import Context

from texpipe_compiler.consumer import CompileConsumer

CONSUMER = "compile_consumer"
CompileConsumerDep = Annotated[CompileConsumer, Context(CONSUMER)]
