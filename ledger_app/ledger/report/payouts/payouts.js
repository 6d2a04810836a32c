// Copyright (c) 2026, ledger_app developers and contributors
// For license information, please see license.txt

frappe.query_reports["Payouts"] = {
	filters: [
		{
			fieldname: "status",
			label: __("Status"),
			fieldtype: "Select",
			options: "\nQueued\nSubmitted\nUnknown\nPaid\nFailed",
		},
		{ fieldname: "party", label: __("Party"), fieldtype: "Data" },
	],
	formatter(value, row, column, data, default_formatter) {
		value = default_formatter(value, row, column, data);
		if (data && column.fieldname === "status") {
			const colour = { Paid: "green", Failed: "red", Unknown: "orange", Queued: "blue", Submitted: "blue" }[data.status];
			return `<span class="indicator-pill ${colour || "gray"}">${value}</span>`;
		}
		return value;
	},
};
