// Copyright (c) 2025, ledger_app developers and contributors
// For license information, please see license.txt

frappe.ui.form.on("Ledger Account", {
	refresh(frm) {
		if (!frm.is_new()) {
			frm.set_intro(
				__("The balance is kept by the ledger engine from posted transactions."),
				"blue"
			);
		}
	},
});
