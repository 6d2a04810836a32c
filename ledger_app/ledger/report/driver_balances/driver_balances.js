// Copyright (c) 2025, ledger_app developers and contributors
// For license information, please see license.txt

frappe.query_reports["Driver Balances"] = {
	filters: [
		{
			fieldname: "status",
			label: __("Status"),
			fieldtype: "Select",
			options: "\nActive\nSuspended\nExited",
		},
	],
	formatter(value, row, column, data, default_formatter) {
		value = default_formatter(value, row, column, data);
		if (!data) {
			return value;
		}
		if (column.fieldname === "target_outstanding" && data.target_outstanding > 0) {
			return `<span class="text-danger">${value}</span>`;
		}
		if (column.fieldname === "driver" && data.flagged) {
			return `${value} <span class="indicator-pill red">${__("Flagged")}</span>`;
		}
		return value;
	},
};
