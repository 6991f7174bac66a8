"""``python -m codec``: make a key, check the key settings, run the codec server.

A bad setting or a port that cannot be bound prints one line starting with ``error:`` and exits 2,
without a traceback, like the project's other command lines.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from codec.converter import codec_from_env
from codec.keys import CodecConfigError, check_key_id, generate_key
from codec.server import DEFAULT_CORS_ORIGINS, TOKEN_ENV, CodecServer, check_origin, load_token

logger = logging.getLogger("codec.server")

EXIT_USAGE = 2
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m codec",
        description="Payload encryption for ReelMirror on Temporal: keys and the codec server.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    keygen = commands.add_parser("keygen", help="print a new random key as id:base64key")
    keygen.add_argument("--id", dest="key_id", help="key id (default: today's date and a random suffix)")

    commands.add_parser("check", help="load the key settings and print the key ids they define")

    serve = commands.add_parser(
        "serve",
        help="run the codec server for the Web UI and the temporal CLI",
        description=f"Keys come from REELMIRROR_CODEC_KEYS or REELMIRROR_CODEC_KEY_FILE; the optional bearer "
        f"token from --token-file or {TOKEN_ENV}.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8081, help="port to bind (default: %(default)s)")
    serve.add_argument(
        "--cors-origin",
        action="append",
        dest="cors_origins",
        metavar="ORIGIN",
        help=f"Web UI origin allowed to call from a browser; repeatable (default: {' '.join(DEFAULT_CORS_ORIGINS)})",
    )
    serve.add_argument(
        "--token-file", type=Path, metavar="FILE", help=f"file holding the bearer token (or set {TOKEN_ENV})"
    )
    serve.add_argument("--quiet", action="store_true", help="no access log, warnings only")
    return parser.parse_args(argv)


def fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


def keygen(key_id: str | None) -> int:
    if key_id is not None:
        check_key_id(key_id, "--id")
    print(generate_key(key_id))
    return 0


def check() -> int:
    codec = codec_from_env(required=True)
    assert codec is not None
    ids = codec.keys.ids
    print(f"encrypts with: {ids[0]}")
    print(f"decrypts: {', '.join(ids)}")
    print(f"compression: {'on' if codec.compress else 'off'}")
    return 0


def bind_error(host: str, port: int, exc: OSError) -> str:
    reason = os.strerror(exc.errno) if exc.errno and exc.errno > 0 else (exc.strerror or str(exc))
    return f"cannot listen on {host}:{port}: {reason}; stop what runs there or choose another --port/--host"


async def serve(server: CodecServer, args: argparse.Namespace, token: bool) -> int:
    try:
        await server.start()
    except (OSError, socket.gaierror) as exc:
        return fail(bind_error(args.host, args.port, exc))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    logger.info(
        "codec server on %s (Web UI origins: %s; bearer token %s)",
        server.url,
        " ".join(args.cors_origins),
        "required" if token else "not required",
    )
    if args.host not in LOOPBACK and not token:
        logger.warning("listening on %s without a token: anyone who can reach it can decrypt payloads", args.host)
    try:
        await stop.wait()
    finally:
        await server.stop()
    logger.info("codec server stopped")
    return 0


def run_server(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not 0 <= args.port <= 65535:
        return fail(f"--port {args.port}: choose a port between 0 and 65535")
    args.cors_origins = [check_origin(origin) for origin in args.cors_origins or DEFAULT_CORS_ORIGINS]
    codec = codec_from_env(required=True)
    assert codec is not None
    token = load_token(args.token_file, os.environ)
    logger.info("keys: encrypts with %s; decrypts with %s", codec.keys.current.id, ", ".join(codec.keys.ids))
    server = CodecServer(
        codec, host=args.host, port=args.port, cors_origins=args.cors_origins, token=token, access_log=not args.quiet
    )
    return asyncio.run(serve(server, args, token is not None))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.command == "keygen":
            return keygen(args.key_id)
        if args.command == "check":
            return check()
        return run_server(args)
    except CodecConfigError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
