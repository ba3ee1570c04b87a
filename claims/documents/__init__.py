"""Documents (理赔材料): the papers and photos a claim is paid on — uploaded by staff to a claim
or by a department to an event it submitted, checked by their content, kept in a store that
never overwrites, and every view or download on the audit trail."""
