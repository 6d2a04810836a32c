"""The app's one workspace is a v15 export whose blocks, shortcuts and links reach every desk doctype and report.
"""

from __future__ import annotations

import json

import pytest

from tests.layout import (
	APP,
	DOCTYPES,
	FRAPPE_DOCTYPES,
	REPORTS,
	WORKSPACE_IDS,
	WORKSPACES,
	modules_txt,
	scrub,
)

# the keys of a v15 export (frappe/core/workspace/users/users.json; frappe/desk/doctype/workspace)
V15_WORKSPACE_KEYS = (
	"charts",
	"content",
	"creation",
	"custom_blocks",
	"docstatus",
	"doctype",
	"for_user",
	"hide_custom",
	"icon",
	"idx",
	"is_hidden",
	"label",
	"links",
	"modified",
	"modified_by",
	"module",
	"name",
	"number_cards",
	"owner",
	"parent_page",
	"public",
	"quick_lists",
	"restrict_to_domain",
	"roles",
	"sequence_id",
	"shortcuts",
	"title",
)


def test_the_app_has_one_workspace_for_its_module():
	assert set(WORKSPACES) == {"Ledger"}
	assert WORKSPACES["Ledger"]["module"] == "Ledger"


@pytest.mark.parametrize("name", WORKSPACE_IDS)
def test_workspace_json_has_the_keys_a_v15_export_has(name):
	workspace = WORKSPACES[name]
	for key in V15_WORKSPACE_KEYS:
		assert key in workspace, key
	assert workspace["doctype"] == "Workspace"
	assert workspace["name"] == workspace["label"] == workspace["title"]
	assert workspace["owner"] == "Administrator"
	# public and for nobody in particular: what an app ships (Workspace.on_update exports only those)
	assert workspace["public"] == 1 and workspace["for_user"] == "" and not workspace["parent_page"]
	assert workspace["module"] in modules_txt()
	# frappe/model/sync.py get_doc_files: <module>/workspace/<scrub(name)>/<scrub(name)>.json
	assert (APP / scrub(workspace["module"]) / "workspace" / scrub(name) / f"{scrub(name)}.json").is_file()


@pytest.mark.parametrize("name", WORKSPACE_IDS)
def test_workspace_blocks_shortcuts_and_links_point_at_real_things(name):
	workspace = WORKSPACES[name]
	content = json.loads(workspace["content"])  # Workspace.validate: the content is a JSON list
	assert isinstance(content, list)
	ids = [block["id"] for block in content]
	assert len(ids) == len(set(ids))
	for block in content:
		assert block["type"] in (
			"header",
			"paragraph",
			"spacer",
			"shortcut",
			"card",
			"chart",
			"number_card",
			"quick_list",
			"onboarding",
			"custom_block",
		), block
	shortcuts = [s["label"] for s in workspace["shortcuts"]]
	cards = [link["label"] for link in workspace["links"] if link["type"] == "Card Break"]
	assert sorted(b["data"]["shortcut_name"] for b in content if b["type"] == "shortcut") == sorted(shortcuts)
	assert sorted(b["data"]["card_name"] for b in content if b["type"] == "card") == sorted(cards)
	targets = {"DocType": set(DOCTYPES) | FRAPPE_DOCTYPES, "Report": set(REPORTS)}
	for shortcut in workspace["shortcuts"]:
		assert shortcut["link_to"] in targets[shortcut["type"]], shortcut
	groups = []
	for link in workspace["links"]:
		if link["type"] == "Card Break":
			groups.append((link, []))
		else:
			assert link["type"] == "Link" and groups, link
			groups[-1][1].append(link)
	for card, items in groups:
		# Workspace.build_links_table_from_card: a card's link_count is the number of links under it
		assert items and card["link_count"] == len(items), card["label"]
		for item in items:
			assert item["link_to"] in targets[item["link_type"]], item
			if item["link_type"] == "Report":  # Script and Query Reports open as query reports
				query = REPORTS[item["link_to"]]["report_type"] in ("Script Report", "Query Report")
				assert item["is_query_report"] == int(query), item


def test_ledger_workspace_reaches_every_desk_doctype_and_report():
	workspace = WORKSPACES["Ledger"]
	linked = {link["link_to"] for link in workspace["links"] if link["type"] == "Link"}
	assert {name for name, meta in DOCTYPES.items() if not meta.get("istable")} | set(REPORTS) <= linked
	shortcuts = {s["link_to"] for s in workspace["shortcuts"]}
	assert {
		"Fleet Driver",
		"Fleet Vehicle",
		"Unmatched Payment",
		"Driver Balances",
		"Client Exchange Position",
	} <= shortcuts
	cards = {}
	for link in workspace["links"]:
		if link["type"] == "Card Break":
			card = cards.setdefault(link["label"], set())
		else:
			card.add(link["link_to"])
	assert {
		"Client",
		"Client Exchange",
		"Balance Record",
		"Loss Snapshot",
		"Client Exchange Position",
	} <= cards["Clients"]
