"""Agent accounts: ``python -m handoff.accounts add|list|seed|disable|enable|remove``.

  add ID --name NAME --skills general,vip --max-chats 3 [--languages zh,en] [--role supervisor]
      languages: those the agent reads (a Chinese chat is offered to agents who read zh); en when not given
      password from HANDOFF_PASSWORD, else asked for (never an argument: it would land in the shell history)
  list
  seed FILE
      every account in a YAML roster (id, name, skills, languages, max_chats, role) with the password in
      HANDOFF_PASSWORD; used by ./run start for the demo team. Existing accounts are updated (a disabled
      one stays disabled).
  disable ID | enable ID | remove ID
      disable: the agent's tokens stop working at once in every service process, their open consoles are
      closed, they cannot log in, and their chats go back to the queues; enable: they may log in again;
      remove: their chats go back to the queues and the account is deleted. (Supervisors can do the same
      with POST /v1/agents/{id}/disable, /enable and DELETE /v1/agents/{id}.)
"""
from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from pathlib import Path
from typing import Any, Dict, List

import yaml

from common.routing import SKILL_GROUPS_FILE, SkillGroups
from handoff.auth import ROLES, hash_password
from handoff.metrics import Metrics
from handoff.redis_store import RedisStore
from handoff.service import HandoffService
from handoff.store import NotFound, Store


class AccountError(ValueError):
    pass


def account_fields(entry: Dict[str, Any], groups: SkillGroups, password_hash: str, where: str = "") -> Dict[str, str]:
    """Checked account fields; AccountError naming the entry and field otherwise."""
    agent_id = str(entry.get("id", ""))
    prefix = f"{where}{agent_id or '?'}: "
    if not agent_id or not all(c.isalnum() or c in "_.-" for c in agent_id) or agent_id != agent_id.lower():
        raise AccountError(f"{prefix}id must be lower-case letters, digits, '_', '.' or '-'")
    skills = entry.get("skills") or []
    if isinstance(skills, str):
        skills = [s.strip() for s in skills.split(",") if s.strip()]
    unknown = [s for s in skills if s not in groups.groups]
    if unknown:
        raise AccountError(f"{prefix}skills: unknown skill group {unknown[0]!r} (known: {', '.join(groups.groups)})")
    languages = entry.get("languages") or ["en"]
    if isinstance(languages, str):
        languages = [s.strip() for s in languages.split(",") if s.strip()]
    languages = list(dict.fromkeys(str(code).strip().lower() for code in languages))
    unknown = groups.languages.unknown(languages)
    if unknown or not languages:
        raise AccountError(f"{prefix}languages: unknown language {(unknown or [''])[0]!r} "
                           f"(known: {', '.join(groups.languages.known)})")
    role = entry.get("role", "agent")
    if role not in ROLES:
        raise AccountError(f"{prefix}role must be one of {', '.join(ROLES)}")
    max_chats = entry.get("max_chats", 3)
    if not isinstance(max_chats, int) or not 1 <= max_chats <= 50:
        raise AccountError(f"{prefix}max_chats must be a whole number from 1 to 50")
    return {"id": agent_id, "name": str(entry.get("name") or agent_id), "role": role, "skills": ",".join(skills),
            "languages": ",".join(languages), "max_chats": str(max_chats), "password_hash": password_hash}


async def seed(store: Store, roster: List[Dict[str, Any]], groups: SkillGroups, password: str) -> int:
    digest = hash_password(password)
    fields = [account_fields(entry, groups, digest, "roster entry ") for entry in roster]
    for f in fields:
        await store.save_account(f["id"], f)
    return len(fields)


async def change_access(store: Store, groups: SkillGroups, command: str, agent_id: str) -> int:
    """disable | enable | remove, through the service's own steps (so chats go back to the queues)."""
    service = HandoffService(store, groups, Metrics())
    try:
        if command == "disable":
            await service.disable_agent(agent_id, "the command line")
        elif command == "enable":
            await service.enable_agent(agent_id, "the command line")
        else:
            await service.remove_agent(agent_id, "the command line")
    except NotFound:
        print(f"error: no account {agent_id!r}", file=sys.stderr)
        return 2
    print(f"{command}d account {agent_id}")  # disabled, enabled, removed
    return 0


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m handoff.accounts", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add")
    add.add_argument("id")
    add.add_argument("--name", default="")
    add.add_argument("--skills", required=True)
    add.add_argument("--max-chats", type=int, default=3)
    add.add_argument("--languages", default="en", help="the languages the agent reads, e.g. zh,en (default: en)")
    add.add_argument("--role", default="agent", choices=ROLES)
    sub.add_parser("list")
    seed_cmd = sub.add_parser("seed")
    seed_cmd.add_argument("file", type=Path)
    for name in ("disable", "enable", "remove"):
        sub.add_parser(name).add_argument("id")
    args = parser.parse_args(argv)

    groups = SkillGroups.load(os.environ.get("HANDOFF_SKILL_GROUPS") or SKILL_GROUPS_FILE)
    store = RedisStore.from_url(os.environ.get("HANDOFF_REDIS_URL", "redis://127.0.0.1:6379/0"),
                                os.environ.get("HANDOFF_REDIS_PREFIX", "{ho}:"))

    async def run() -> int:
        try:
            if args.command == "list":
                for agent_id in await store.accounts():
                    a = await store.account(agent_id) or {}
                    print(f"{agent_id}\t{a.get('role')}\t{a.get('skills')}\t{a.get('languages') or 'en'}\t"
                          f"max {a.get('max_chats')}\t{a.get('name')}")
                return 0
            if args.command in ("disable", "enable", "remove"):
                return await change_access(store, groups, args.command, args.id)
            password = os.environ.get("HANDOFF_PASSWORD") or ""
            if not password and args.command == "add" and sys.stdin.isatty():
                password = getpass.getpass(f"password for {args.id}: ")
            if not password:
                raise AccountError("set HANDOFF_PASSWORD (at least 8 characters)")
            if args.command == "add":
                fields = account_fields({"id": args.id, "name": args.name, "skills": args.skills,
                                         "languages": args.languages, "max_chats": args.max_chats,
                                         "role": args.role}, groups,
                                        hash_password(password))
                await store.save_account(args.id, fields)
                print(f"saved account {args.id}")
                return 0
            roster = yaml.safe_load(args.file.read_text(encoding="utf-8")) or {}
            count = await seed(store, roster.get("agents") or [], groups, password)
            print(f"saved {count} accounts from {args.file}")
            return 0
        except (AccountError, ValueError, OSError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        finally:
            await store.close()

    return asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
