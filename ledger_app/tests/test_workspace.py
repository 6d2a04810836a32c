"""The Ledger workspace as the desk loads it (``frappe.desk.desktop.get_desktop_page``): on the site,
every block, link and shortcut pointing at something that exists, and each user shown what they may open."""

import json

import frappe
from frappe.desk.desktop import get_desktop_page
from frappe.tests.utils import FrappeTestCase

from ledger_app.tests.fixtures import LEDGER_MANAGER, LEDGER_USER, NO_LEDGER_ROLE, ensure_users

#: what a Ledger User has no read permission on
MANAGER_ONLY = {"Unmatched Payment", "Callback Log", "Ledger Settings"}


class TestLedgerWorkspace(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		ensure_users()
		cls.workspace = frappe.get_doc("Workspace", "Ledger")

	def page_as(self, user: str) -> tuple[set, set]:
		"""The shortcuts' and the cards' targets the desk shows ``user``."""
		with self.set_user(user):
			page = get_desktop_page(json.dumps({"name": "Ledger", "title": "Ledger", "public": 1}))
		shortcuts = {item["link_to"] for item in page["shortcuts"]["items"]}
		links = {link["link_to"] for card in page["cards"]["items"] for link in card["links"]}
		return shortcuts, links

	def test_every_link_and_shortcut_points_at_a_ledger_doctype_or_report_on_the_site(self):
		self.assertEqual((self.workspace.module, self.workspace.public), ("Ledger", 1))
		targets = [(link.link_type, link.link_to) for link in self.workspace.links if link.type == "Link"]
		targets += [(shortcut.type, shortcut.link_to) for shortcut in self.workspace.shortcuts]
		for link_type, name in targets:
			module = frappe.db.get_value(link_type, name, "module")
			self.assertEqual(module, "Ledger", f"{link_type} {name}")
			if link_type == "Report":
				self.assertEqual(frappe.db.get_value("Report", name, "report_type"), "Script Report")
		self.assertEqual(
			{name for kind, name in targets if kind == "Report"},
			{"Driver Balances", "Payouts", "Client Exchange Position"},
		)

	def test_every_block_of_the_content_names_a_shortcut_or_card_of_the_workspace(self):
		blocks = json.loads(self.workspace.content)
		shortcuts = {shortcut.label for shortcut in self.workspace.shortcuts}
		cards = {link.label for link in self.workspace.links if link.type == "Card Break"}
		self.assertEqual({b["data"]["shortcut_name"] for b in blocks if b["type"] == "shortcut"}, shortcuts)
		self.assertEqual({b["data"]["card_name"] for b in blocks if b["type"] == "card"}, cards)

	def test_a_ledger_manager_is_shown_every_shortcut_and_link(self):
		shortcuts, links = self.page_as(LEDGER_MANAGER)
		self.assertEqual(shortcuts, {shortcut.link_to for shortcut in self.workspace.shortcuts})
		self.assertEqual(links, {link.link_to for link in self.workspace.links if link.type == "Link"})

	def test_a_ledger_user_is_shown_what_they_may_read(self):
		everything = {link.link_to for link in self.workspace.links if link.type == "Link"}
		shortcuts, links = self.page_as(LEDGER_USER)
		self.assertEqual(links, everything - MANAGER_ONLY)
		self.assertEqual(shortcuts, {s.link_to for s in self.workspace.shortcuts} - MANAGER_ONLY)

	def test_a_user_without_a_ledger_role_cannot_open_the_workspace(self):
		with self.assertRaises(frappe.PermissionError):
			self.page_as(NO_LEDGER_ROLE)
