// Copyright (c) 2025, ledger_app developers and contributors
// For license information, please see license.txt

frappe.ui.form.on("Ledger Transaction", {
	refresh(frm) {
		if (frm.is_new()) {
			// the engine posts transactions; the server refuses a desk insert anyway
			frm.disable_save();
			frm.set_intro(
				__("Ledger Transactions are posted by the ledger engine. Use the ledger API to post one."),
				"red"
			);
			return;
		}
		if (frm.doc.reversal_of) {
			frm.set_intro(__("This transaction reverses {0}.", [frm.doc.reversal_of.bold()]), "orange");
		} else if (frm.doc.docstatus === 1) {
			frm.set_intro(
				__("Cancelling posts a reversal; this transaction stays in the ledger."),
				"blue"
			);
		}
	},
});
