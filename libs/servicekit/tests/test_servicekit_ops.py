"""/health, /ready and /metrics as every service serves them."""

import aiohttp
from texpipe_servicekit.ops import OpsServer


async def ok() -> None:
    return None


async def broken() -> None:
    raise ConnectionRefusedError("connection refused")


async def test_ops_server_answers_health_ready_and_metrics() -> None:
    server = OpsServer("127.0.0.1", 0, {"broker": ok, "s3": ok})
    await server.start()
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{server.port}") as http:
            async with http.get("/health") as response:
                assert response.status == 200
            async with http.get("/ready") as response:
                assert response.status == 200
                assert (await response.json())["checks"] == ["broker", "s3"]
            async with http.get("/metrics") as response:
                assert response.status == 200
                assert "python_info" in await response.text()
    finally:
        await server.stop()


async def test_ready_names_the_dependency_that_fails() -> None:
    server = OpsServer("127.0.0.1", 0, {"broker": ok, "s3": broken})
    await server.start()
    try:
        async with (
            aiohttp.ClientSession(f"http://127.0.0.1:{server.port}") as http,
            http.get("/ready") as response,
        ):
            assert response.status == 503
            assert response.content_type == "application/problem+json"
            body = await response.json()
            assert body["detail"] == "unreachable: s3"
            assert "connection refused" in body["failed"]["s3"]
    finally:
        await server.stop()
