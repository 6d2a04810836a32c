// Copyright (c) 2025, ledger_app developers and contributors
// For license information, please see license.txt

frappe.ui.form.on("Fleet Driver", {
	refresh(frm) {
		if (frm.is_new()) {
			frm.set_intro(
				__("The driver's ledger accounts (target outstanding, payable, deposit) are created when the driver is saved."),
				"blue"
			);
			return;
		}
		show_balances(frm);
		if (frm.doc.flagged) {
			frm.set_intro(
				__("Flagged: the daily target was missed {0} business days in a row.", [
					frm.doc.consecutive_misses,
				]),
				"red"
			);
		} else if (frm.doc.status !== "Active") {
			frm.set_intro(__("{0}: no daily target is charged.", [__(frm.doc.status)]), "orange");
		}
	},
});

// the balances are virtual fields: the server reads them from the driver's ledger accounts on load
function show_balances(frm) {
	const money = (value) => format_currency(value || 0);
	const outstanding = frm.doc.target_outstanding || 0;
	frm.dashboard.add_indicator(
		__("Target Outstanding: {0}", [money(outstanding)]),
		outstanding > 0 ? "red" : "green"
	);
	frm.dashboard.add_indicator(__("Payable: {0}", [money(frm.doc.payable)]), "blue");
	frm.dashboard.add_indicator(__("Deposit: {0}", [money(frm.doc.deposit)]), "gray");
}
