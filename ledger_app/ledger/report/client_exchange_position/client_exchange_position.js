// Copyright (c) 2026, ledger_app developers and contributors
// For license information, please see license.txt

frappe.query_reports["Client Exchange Position"] = {
	filters: [],
	formatter(value, row, column, data, default_formatter) {
		value = default_formatter(value, row, column, data);
		if (!data) {
			return value;
		}
		if (column.fieldname === "remaining_loss" && data.remaining_loss > 0) {
			return `<span class="text-danger">${value}</span>`;
		}
		return value;
	},
};
