// Copyright (c) 2025, ledger_app developers and contributors
// For license information, please see license.txt

frappe.listview_settings["Unmatched Payment"] = {
	add_fields: ["status"],
	get_indicator(doc) {
		const colors = {
			Open: "red",
			Assigned: "green",
			"Refund Requested": "orange",
			Refunded: "gray",
		};
		return [__(doc.status), colors[doc.status] || "gray", "status,=," + doc.status];
	},
};
