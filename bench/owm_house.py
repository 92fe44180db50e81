"""A house of OpenWeatherMap clients behind the service: requests made against upstream calls.

N clients poll one place every PERIOD seconds through the service as an HTTP proxy (as pyowm or
`HTTP_PROXY` users do), each with its own appid, against `--cache-ttl TTL`: the proportions of N
screens polling every minute against the default 10-minute TTL, sped up. Prints one line for
docs/owm-compatible.md.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

import httpx

from processes import free_port, process


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--period", type=float, default=1.0, help="seconds between polls")
    parser.add_argument("--ttl", type=float, default=10.0, help="the service's --cache-ttl")
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    stub_port, port = free_port(), free_port()
    cmd = [sys.executable, "-m", "weather_api"]
    stub_url = f"http://127.0.0.1:{stub_port}"
    with (
        process(
            "stub",
            [*cmd, "stub", "--port", str(stub_port)],
            ready=f"{stub_url}/_stub/healthz",
        ),
        process(
            "owm-house",
            [
                *cmd,
                "serve",
                "--port",
                str(port),
                "--provider",
                "openweathermap",
                "--upstream-url",
                stub_url,
                "--cache-ttl",
                str(args.ttl),
            ],
            ready=f"http://127.0.0.1:{port}/readyz",
            env={"WEATHER_API_OPENWEATHERMAP_API_KEY": "bench-key"},
        ),
    ):
        before = httpx.get(f"{stub_url}/_stub/stats").json()["requests_total"]
        requests, failed = [0] * args.clients, [0] * args.clients

        def client(number: int) -> None:
            with httpx.Client(proxy=f"http://127.0.0.1:{port}") as session:
                end = time.monotonic() + args.seconds
                time.sleep(number * args.period / args.clients)  # clients are not in step
                while time.monotonic() < end:
                    response = session.get(
                        "http://api.openweathermap.org/data/2.5/weather",
                        params={"q": "London,GB", "appid": f"screen-{number}"},
                    )
                    requests[number] += 1
                    failed[number] += response.status_code != 200
                    time.sleep(args.period)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        calls = httpx.get(f"{stub_url}/_stub/stats").json()["requests_total"] - before
    print(
        f"{args.clients} clients every {args.period:g} s for {args.seconds:g} s, "
        f"--cache-ttl {args.ttl:g}: {sum(requests)} requests ({sum(failed)} not 200), "
        f"{calls} upstream calls"
    )
    return 0 if sum(failed) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
