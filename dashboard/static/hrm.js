// Heart Rate Measurement (0x2A37) parser: the same layout and the same test vectors
// (hrm_vectors.json) as sensor.gatt.parse_heart_rate_measurement. Bluetooth SIG, Heart Rate
// Service 1.0, section 3.1: flags (bit 0 uint16 HR, bits 1-2 contact, bit 3 energy, bit 4 RR),
// heart rate, energy expended (uint16 kJ), RR intervals (uint16, 1/1024 s).
"use strict";
(function (root) {
  function parse(view) {
    const n = view.byteLength;
    if (n === 0) throw new Error("empty payload");
    const flags = view.getUint8(0);
    let pos = 1;
    let hr;
    if (flags & 0x01) {
      if (n < pos + 2) throw new Error("truncated uint16 heart rate");
      hr = view.getUint16(pos, true);
      pos += 2;
    } else {
      if (n < pos + 1) throw new Error("truncated uint8 heart rate");
      hr = view.getUint8(pos);
      pos += 1;
    }
    const contact = flags & 0x04 ? Boolean(flags & 0x02) : null;
    let energy = null;
    if (flags & 0x08) {
      if (n < pos + 2) throw new Error("truncated energy expended field");
      energy = view.getUint16(pos, true);
      pos += 2;
    }
    const rrRaw = [];
    if (flags & 0x10) {
      const rest = n - pos;
      if (rest === 0) throw new Error("RR flag set but no RR bytes");
      if (rest % 2) throw new Error("odd number of RR bytes (" + rest + ")");
      for (; pos < n; pos += 2) rrRaw.push(view.getUint16(pos, true));
    } else if (pos !== n) {
      throw new Error(n - pos + " unexpected trailing bytes");
    }
    return {
      heart_rate_bpm: hr,
      contact: contact,
      energy_expended_kj: energy,
      rr_raw: rrRaw,
      rr_ms: rrRaw.map(function (r) { return (r * 1000) / 1024; }),
    };
  }
  function fromHex(hex) {
    const parts = hex.split(" ").filter(function (s) { return s.length > 0; });
    const bytes = new Uint8Array(parts.map(function (h) { return parseInt(h, 16); }));
    return new DataView(bytes.buffer);
  }
  root.SintoniaHRM = { parse: parse, fromHex: fromHex };
})(window);
