// Copyright (c) 2025, ledger_app developers and contributors
// For license information, please see license.txt

frappe.listview_settings["Fleet Driver"] = {
	add_fields: ["status", "flagged"],
	get_indicator(doc) {
		if (doc.flagged) {
			return [__("Flagged"), "red", "flagged,=,1"];
		}
		const colors = { Active: "green", Suspended: "orange", Exited: "gray" };
		return [__(doc.status), colors[doc.status] || "gray", "status,=," + doc.status];
	},
};
