// The registration form, keyboard only (enrollment/templates/enrollment/registration/).
//
// - Enter moves to the next field; Enter in the last field of a row goes to the next row,
//   adding one after the last; Alt+N (the "add member" button's access key) adds a row;
//   Ctrl+Enter submits.
// - Resident ID numbers are checked as typed with window.PortalIdentifiers (identifiers.js):
//   a wrong number is marked with the message under it at once; a good one fills in the birth
//   date and sex and moves on to the next field still to fill.
// - The residence-permit number shows only for a residence-permit household; the nationality
//   only for foreigners' documents.
// The messages come from the page (#id-check-messages, rendered in the page's language).
(function () {
  "use strict";

  // --- access keys (Alt+letter) ---------------------------------------------------------------
  // Chromium handles accesskey itself on most desktops (it then clicks before the keydown reaches
  // the page and marks the keydown as handled); where it does not (some kiosk and headless
  // set-ups), the page does it, once.
  var lastAccessClick = { element: null, at: 0 };
  Array.prototype.forEach.call(document.querySelectorAll("[accesskey]"), function (element) {
    element.addEventListener("click", function () {
      lastAccessClick = { element: element, at: Date.now() };
    });
  });
  document.addEventListener("keydown", function (event) {
    if (!event.altKey || event.ctrlKey || event.metaKey || event.defaultPrevented || event.key.length !== 1) {
      return;
    }
    var key = event.key.toLowerCase();
    var target = Array.prototype.find.call(document.querySelectorAll("[accesskey]"), function (element) {
      return (element.getAttribute("accesskey") || "").toLowerCase() === key;
    });
    if (!target || (lastAccessClick.element === target && Date.now() - lastAccessClick.at < 200)) {
      return;
    }
    event.preventDefault();
    target.click();
  });

  var form = document.querySelector("[data-registration-form]");
  if (!form) {
    return;
  }
  var tbody = form.querySelector("[data-member-rows]");
  var template = document.getElementById("member-row-template");
  var totalForms = form.querySelector('input[name$="-TOTAL_FORMS"]');
  var maxForms = form.querySelector('input[name$="-MAX_NUM_FORMS"]');
  var submitButton = form.querySelector("[data-submit]");
  var addButton = form.querySelector("[data-add-member]");
  var FOREIGN_KINDS = ["foreign_passport", "foreign_permanent_residence"];
  var messages = {};
  var messagesNode = document.getElementById("id-check-messages");
  if (messagesNode) {
    try {
      messages = JSON.parse(messagesNode.textContent);
    } catch (error) {
      messages = {};
    }
  }

  function rowOf(element) {
    return element.closest ? element.closest("[data-member-row]") : null;
  }

  function field(row, name) {
    return row.querySelector('[data-field="' + name + '"]');
  }

  function rows() {
    return tbody ? Array.prototype.slice.call(tbody.querySelectorAll("[data-member-row]")) : [];
  }

  function isFocusable(element) {
    if (element.disabled || element.type === "hidden" || element.tabIndex < 0) {
      return false;
    }
    return !!(element.offsetWidth || element.offsetHeight || element.getClientRects().length);
  }

  function focusables(root) {
    return Array.prototype.slice
      .call((root || form).querySelectorAll("input, select, textarea, button"))
      .filter(isFocusable);
  }

  function focusField(element) {
    if (!element) {
      return;
    }
    element.focus();
    if (element.select && element.tagName === "INPUT") {
      element.select();
    }
  }

  function focusAfter(element) {
    var list = focusables();
    var index = list.indexOf(element);
    if (index >= 0 && index + 1 < list.length) {
      focusField(list[index + 1]);
    }
  }

  function lastFieldOf(row) {
    var list = focusables(row);
    return list.length ? list[list.length - 1] : null;
  }

  // --- the household part ---------------------------------------------------------------------
  var kind = form.querySelector("[data-household-kind]");
  var permit = form.querySelector("[data-permit-field]");

  function syncPermit() {
    if (kind && permit) {
      permit.hidden = kind.value !== "residence_permit";
    }
  }
  if (kind) {
    kind.addEventListener("change", syncPermit);
    syncPermit();
  }

  // --- errors under a field -------------------------------------------------------------------
  // A field names the messages under it in aria-describedby, so that a screen reader reads them
  // when the field has the focus: the server's (the element "<id>_error" Django points to) and the
  // ID number's check as typed ("<id>_check").
  function describedBy(input, id, on) {
    var ids = (input.getAttribute("aria-describedby") || "").split(/\s+/).filter(function (token) {
      return token && token !== id;
    });
    if (on) {
      ids.push(id);
    }
    if (ids.length) {
      input.setAttribute("aria-describedby", ids.join(" "));
    } else {
      input.removeAttribute("aria-describedby");
    }
  }

  function clearServerErrors(input) {
    var cell = input.closest("td, .field");
    if (!cell) {
      return;
    }
    Array.prototype.forEach.call(
      cell.querySelectorAll(".field-errors, .field-error:not([data-id-error])"),
      function (node) {
        node.remove();
      }
    );
    Array.prototype.forEach.call(cell.querySelectorAll("input, select"), function (element) {
      if (element.id) {
        describedBy(element, element.id + "_error", false);
      }
    });
    if (!cell.querySelector("[data-id-error]:not([hidden])")) {
      cell.classList.remove("invalid");
      input.removeAttribute("aria-invalid");
    }
  }

  function showIdError(row, text) {
    var input = field(row, "id_number");
    var box = row.querySelector("[data-id-error]");
    var cell = input.closest("td");
    if (text) {
      box.textContent = text;
      box.hidden = false;
      input.setAttribute("aria-invalid", "true");
      describedBy(input, box.id, true);
      cell.classList.add("invalid");
    } else {
      box.textContent = "";
      box.hidden = true;
      input.removeAttribute("aria-invalid");
      describedBy(input, box.id, false);
      if (!cell.querySelector(".field-error:not([data-id-error])")) {
        cell.classList.remove("invalid");
      }
    }
  }

  function details(number) {
    var chars = Array.from(number);
    var bad = -1;
    for (var i = 0; i < chars.length; i++) {
      var c = chars[i];
      if (!(c >= "0" && c <= "9") && !(c === "X" && i === chars.length - 1)) {
        bad = i;
        break;
      }
    }
    var digits = number.slice(6, 14);
    return {
      character: bad >= 0 ? chars[bad] : "",
      position: String(bad + 1),
      length: String(chars.length),
      province: number.slice(0, 2),
      digits: digits,
      date: digits.slice(0, 4) + "-" + digits.slice(4, 6) + "-" + digits.slice(6, 8)
    };
  }

  function messageFor(result) {
    var values = details(result.number);
    var text = messages[result.code] || result.code;
    return text.replace(/\{(\w+)\}/g, function (whole, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? values[key] : whole;
    });
  }

  // --- the ID number as typed -----------------------------------------------------------------
  function checkId(row, final) {
    var kindSelect = field(row, "id_kind");
    var input = field(row, "id_number");
    if (!input || !window.PortalIdentifiers || (kindSelect && kindSelect.value !== "resident_id")) {
      if (row) {
        showIdError(row, null);
      }
      return null;
    }
    var result = window.PortalIdentifiers.checkResidentId(input.value);
    var length = Array.from(result.number).length;
    row.classList.toggle("id-ok", result.ok);
    if (result.ok || result.code === "empty") {
      showIdError(row, null);
      return result.ok ? result : null;
    }
    if (final || result.code === "characters" || length >= 18) {
      showIdError(row, messageFor(result));
    } else {
      showIdError(row, null);
    }
    return null;
  }

  function fillFromId(row, result) {
    var birth = field(row, "birth_date");
    var sex = field(row, "sex");
    if (birth) {
      birth.value = result.birthDate;
      row.dataset.filledBirth = result.birthDate;
      clearServerErrors(birth);
    }
    if (sex) {
      sex.value = result.sex;
      row.dataset.filledSex = result.sex;
      clearServerErrors(sex);
    }
  }

  // The number they came from no longer holds: what it filled in goes too (unless the clerk has
  // changed it since), so that no birth date or sex of a number now wrong is submitted.
  function unfillFromId(row) {
    var birth = field(row, "birth_date");
    var sex = field(row, "sex");
    if (birth && row.dataset.filledBirth !== undefined && birth.value === row.dataset.filledBirth) {
      birth.value = "";
    }
    if (sex && row.dataset.filledSex !== undefined && sex.value === row.dataset.filledSex) {
      sex.value = "";
    }
    delete row.dataset.filledBirth;
    delete row.dataset.filledSex;
  }

  function onIdInput(row) {
    var input = field(row, "id_number");
    var result = checkId(row, false);
    if (!result) {
      if (row.dataset.acceptedId !== undefined) {
        unfillFromId(row);
      }
      delete row.dataset.acceptedId;
      return;
    }
    if (row.dataset.acceptedId === result.number) {
      return;
    }
    row.dataset.acceptedId = result.number;
    fillFromId(row, result);
    if (document.activeElement === input) {
      var birth = field(row, "birth_date");
      focusAfter(birth && isFocusable(birth) ? birth : input);
    }
  }

  function syncNationality(row) {
    var kindSelect = field(row, "id_kind");
    var wrap = row.querySelector("[data-nationality]");
    if (kindSelect && wrap) {
      wrap.hidden = FOREIGN_KINDS.indexOf(kindSelect.value) === -1;
    }
  }

  function wire(row) {
    var input = field(row, "id_number");
    var kindSelect = field(row, "id_kind");
    if (input) {
      input.addEventListener("input", function () {
        clearServerErrors(input);
        onIdInput(row);
      });
      input.addEventListener("blur", function () {
        checkId(row, true);
      });
    }
    if (kindSelect) {
      kindSelect.addEventListener("change", function () {
        syncNationality(row);
        delete row.dataset.acceptedId;
        checkId(row, false);
      });
      syncNationality(row);
    }
    Array.prototype.forEach.call(row.querySelectorAll("input, select"), function (element) {
      if (element !== input) {
        element.addEventListener("input", function () {
          clearServerErrors(element);
        });
      }
    });
  }

  // --- rows -----------------------------------------------------------------------------------
  function addRow() {
    if (!template || !totalForms || !tbody) {
      return null;
    }
    var index = parseInt(totalForms.value, 10);
    if (maxForms && index >= parseInt(maxForms.value, 10)) {
      return null;
    }
    var holder = document.createElement("tbody");
    holder.innerHTML = template.innerHTML.replace(/__prefix__/g, String(index));
    var row = holder.querySelector("[data-member-row]");
    tbody.appendChild(row);
    totalForms.value = String(index + 1);
    row.querySelector("[data-row-number]").textContent = String(index + 1);
    var relation = field(row, "relation");
    if (relation && relation.tagName === "SELECT") {
      relation.value = index === 1 ? "spouse" : "child";
    }
    var previous = rows()[index - 1];
    var category = field(row, "category");
    var previousCategory = previous && field(previous, "category");
    if (category && previousCategory && category.tagName === "SELECT" && previousCategory.tagName === "SELECT") {
      category.value = previousCategory.value;
    }
    wire(row);
    return row;
  }

  rows().forEach(wire);

  if (addButton) {
    addButton.addEventListener("click", function () {
      var row = addRow();
      if (row) {
        focusField(field(row, "name"));
      }
    });
  }

  form.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || event.isComposing || event.altKey) {
      return;
    }
    var target = event.target;
    if (event.ctrlKey || event.metaKey) {
      event.preventDefault();
      form.requestSubmit(submitButton || undefined);
      return;
    }
    if (target.tagName !== "INPUT" && target.tagName !== "SELECT") {
      return;
    }
    event.preventDefault();
    var row = rowOf(target);
    if (row && target === lastFieldOf(row)) {
      var all = rows();
      var next = all[all.indexOf(row) + 1] || addRow();
      if (next) {
        focusField(field(next, "name"));
      } else if (submitButton) {
        submitButton.focus();
      }
      return;
    }
    if (row && target === field(row, "id_number")) {
      var result = checkId(row, true);
      if (result && row.dataset.acceptedId !== result.number) {
        row.dataset.acceptedId = result.number;
        fillFromId(row, result);
        var birth = field(row, "birth_date");
        focusAfter(birth && isFocusable(birth) ? birth : target);
        return;
      }
    }
    focusAfter(target);
  });

  form.addEventListener("submit", function () {
    if (submitButton) {
      // One household, one application: a second Enter while the page is loading sends nothing.
      window.setTimeout(function () {
        submitButton.disabled = true;
      }, 0);
    }
  });

  // After the server refused: start at the first field it complained about; on a page without
  // an autofocus field, at the first row's name.
  var firstInvalid = form.querySelector(".invalid input:not([type=hidden]), .invalid select");
  if (firstInvalid) {
    focusField(firstInvalid);
  } else if (!document.querySelector("[autofocus]") && rows().length) {
    focusField(field(rows()[0], "name"));
  }
})();
