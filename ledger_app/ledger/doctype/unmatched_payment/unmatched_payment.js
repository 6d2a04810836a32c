// Copyright (c) 2025, ledger_app developers and contributors
// For license information, please see license.txt

frappe.ui.form.on("Unmatched Payment", {
	refresh(frm) {
		if (frm.is_new()) {
			// the engine records unmatched payments; the server refuses a desk insert anyway
			frm.disable_save();
			frm.set_intro(
				__("Unmatched Payments are recorded by the ledger engine when a payment names an unknown account."),
				"red"
			);
			return;
		}
		if (frm.doc.status === "Open") {
			frm.set_intro(
				__("The money is in suspense. Assign it to a driver (it is then split as a fare) or refund it."),
				"orange"
			);
		}
	},
});
