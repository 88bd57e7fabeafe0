// Resident ID numbers (居民身份证, GB 11643-1999) checked in the browser as the clerk types.
// The same rules and codes as enrollment/identifiers.py (parse_identifier("resident_id", ...));
// tests/enrollment/test_identifiers_js.py runs both on one table so they cannot drift apart.
// The server check is the one that counts; this one only answers sooner.
//
//   window.PortalIdentifiers.checkResidentId(value[, {today: "YYYY-MM-DD"}])
//     -> {ok, code, number, birthDate: "YYYY-MM-DD"|null, sex: "male"|"female"|null}
//   code: null when ok, else one of "empty", "characters", "length", "province_code",
//   "birth_date_invalid", "birth_date_too_early", "birth_date_future", "check_digit".
(function (root) {
  "use strict";

  // Whitespace removed anywhere in the number (the same set as the Python module).
  var WHITESPACE =
    " \t\n\r\f\v\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" +
    "\u2028\u2029\u202f\u205f\u3000\ufeff";
  var PROVINCE_CODES = [
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
    "65", "71", "81", "82", "83", "91"
  ];
  var EARLIEST_BIRTH_DATE = "1890-01-01";
  var CHINA_OFFSET_MS = 8 * 3600 * 1000; // UTC+8 all year: no daylight saving in China

  function isDigit(c) {
    return c >= "0" && c <= "9";
  }

  // Remove whitespace, make full-width characters half-width, uppercase ASCII letters.
  function normalise(value) {
    var out = "";
    var chars = Array.from(value == null ? "" : String(value)); // code points, not UTF-16 units
    for (var i = 0; i < chars.length; i++) {
      var c = chars[i];
      var code = c.codePointAt(0);
      if (WHITESPACE.indexOf(c) !== -1) {
        continue;
      }
      if (code >= 0xff01 && code <= 0xff5e) {
        c = String.fromCharCode(code - 0xfee0);
      }
      if (c >= "a" && c <= "z") {
        c = c.toUpperCase();
      }
      out += c;
    }
    return out;
  }

  function pad(n, width) {
    var s = String(n);
    while (s.length < width) {
      s = "0" + s;
    }
    return s;
  }

  function todayInChina() {
    var d = new Date(Date.now() + CHINA_OFFSET_MS);
    return pad(d.getUTCFullYear(), 4) + "-" + pad(d.getUTCMonth() + 1, 2) + "-" + pad(d.getUTCDate(), 2);
  }

  function daysInMonth(year, month) {
    if (month === 2) {
      var leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
      return leap ? 29 : 28;
    }
    return [4, 6, 9, 11].indexOf(month) !== -1 ? 30 : 31;
  }

  // "YYYYMMDD" -> "YYYY-MM-DD", or null when there is no such day (year 1..9999).
  function birthDateOf(digits) {
    var year = parseInt(digits.slice(0, 4), 10);
    var month = parseInt(digits.slice(4, 6), 10);
    var day = parseInt(digits.slice(6, 8), 10);
    if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) {
      return null;
    }
    return digits.slice(0, 4) + "-" + digits.slice(4, 6) + "-" + digits.slice(6, 8);
  }

  // ISO 7064 MOD 11-2 over the first 17 digits: weights 2^(17-i) mod 11.
  function checkCharacter(number) {
    var sum = 0;
    for (var i = 0; i < 17; i++) {
      sum += parseInt(number.charAt(i), 10) * (Math.pow(2, 17 - i) % 11);
    }
    var check = (12 - (sum % 11)) % 11;
    return check === 10 ? "X" : String(check);
  }

  function result(number, code, birthDate, sex) {
    return { ok: code === null, code: code, number: number, birthDate: birthDate, sex: sex };
  }

  function checkResidentId(value, options) {
    var number = normalise(value);
    var chars = Array.from(number);
    if (chars.length === 0) {
      return result(number, "empty", null, null);
    }
    for (var i = 0; i < chars.length; i++) {
      if (!isDigit(chars[i]) && !(chars[i] === "X" && i === chars.length - 1)) {
        return result(number, "characters", null, null);
      }
    }
    if (chars.length !== 18) {
      return result(number, "length", null, null);
    }
    if (PROVINCE_CODES.indexOf(number.slice(0, 2)) === -1) {
      return result(number, "province_code", null, null);
    }
    var birthDate = birthDateOf(number.slice(6, 14));
    if (birthDate === null) {
      return result(number, "birth_date_invalid", null, null);
    }
    if (birthDate < EARLIEST_BIRTH_DATE) {
      return result(number, "birth_date_too_early", null, null);
    }
    var today = (options && options.today) || todayInChina();
    if (birthDate > today) {
      return result(number, "birth_date_future", null, null);
    }
    if (number.charAt(17) !== checkCharacter(number)) {
      return result(number, "check_digit", null, null);
    }
    var sex = parseInt(number.charAt(16), 10) % 2 === 1 ? "male" : "female";
    return result(number, null, birthDate, sex);
  }

  root.PortalIdentifiers = {
    normalise: normalise,
    checkResidentId: checkResidentId
  };
})(window);
