import assert from "node:assert/strict";
import fc from "fast-check";
import { addressInCidr, classifyAddress, parseCidr, parseIpLiteral } from "../../src/policy/ip_address.ts";

Deno.test("every spelling of 127.0.0.1 a resolver accepts is read as 127.0.0.1", () => {
  for (
    const spelling of [
      "127.0.0.1",
      "2130706433", // one decimal number
      "0x7f000001", // one hex number
      "017700000001", // one octal number
      "0x7f.1", // hex, two parts
      "127.1", // two parts
      "127.0.1", // three parts
      "0177.0.0.1", // octal first part
      "0x7F.0.0.0x1", // mixed, upper-case hex
      "127.0.0.1.", // trailing dot
    ]
  ) {
    assert.deepEqual(parseIpLiteral(spelling), { family: 4, text: "127.0.0.1" }, spelling);
    assert.equal(classifyAddress(spelling).range, "loopback", spelling);
    assert.equal(classifyAddress(spelling).public, false, spelling);
  }
});

Deno.test("IPv6 spellings are read with or without brackets, zone ids left out of the canonical text", () => {
  assert.deepEqual(parseIpLiteral("[::1]"), { family: 6, text: "::1" });
  assert.deepEqual(parseIpLiteral("0:0:0:0:0:0:0:1"), { family: 6, text: "::1" });
  assert.deepEqual(parseIpLiteral("fe80::1%eth0"), { family: 6, text: "fe80::1" });
  assert.deepEqual(parseIpLiteral("[0:0:0:0:0:ffff:7f00:1]"), { family: 6, text: "::ffff:7f00:1" });
  assert.equal(parseIpLiteral("example.com"), undefined);
  assert.equal(parseIpLiteral("256.1.1.1"), undefined);
  assert.equal(parseIpLiteral("08.1.1.1"), undefined, "8 is not an octal digit; a resolver refuses it too");
  assert.equal(parseIpLiteral(""), undefined);
  assert.equal(parseIpLiteral("[]"), undefined);
});

Deno.test("IPv4 special ranges are not public; public unicast is", () => {
  const cases: [string, string][] = [
    ["10.0.0.1", "private"],
    ["172.16.5.4", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["100.64.0.1", "carrierGradeNat"],
    ["100.127.255.254", "carrierGradeNat"],
    ["169.254.169.254", "linkLocal"], // the cloud metadata address
    ["0.0.0.0", "unspecified"],
    ["224.0.0.1", "multicast"],
    ["255.255.255.255", "broadcast"],
    ["240.0.0.1", "reserved"],
  ];
  for (const [address, range] of cases) {
    assert.deepEqual(classifyAddress(address), { public: false, range }, address);
  }
  for (const address of ["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "93.184.215.14"]) {
    assert.deepEqual(classifyAddress(address), { public: true, range: "unicast" }, address);
  }
});

Deno.test("IPv6 special ranges are not public; public unicast is", () => {
  const cases: [string, string][] = [
    ["::1", "loopback"],
    ["::", "unspecified"],
    ["fe80::1", "linkLocal"],
    ["fe80::1%eth0", "linkLocal"],
    ["fc00::1", "uniqueLocal"],
    ["fd12:3456::1", "uniqueLocal"],
    ["ff02::1", "multicast"],
    ["2001:db8::1", "reserved"],
    ["64:ff9b:1::a00:1", "nat64LocalUse"],
  ];
  for (const [address, range] of cases) {
    assert.equal(classifyAddress(address).public, false, address);
    assert.equal(classifyAddress(address).range, range, address);
  }
  assert.deepEqual(classifyAddress("2606:4700::1111"), { public: true, range: "unicast" });
});

Deno.test("IPv6 forms that embed an IPv4 address are judged by the address they reach", () => {
  const loopbackForms: [string, string][] = [
    ["::ffff:127.0.0.1", "ipv4Mapped"],
    ["::ffff:7f00:1", "ipv4Mapped"],
    ["0:0:0:0:0:ffff:7f00:1", "ipv4Mapped"],
    ["0000:0000:0000:0000:0000:FFFF:7F00:0001", "ipv4Mapped"],
    ["[::ffff:127.0.0.1]", "ipv4Mapped"],
    ["::ffff:0:127.0.0.1", "ipv4Mapped"], // RFC 6145 IPv4-translated
    ["64:ff9b::127.0.0.1", "nat64"],
    ["64:ff9b::7f00:1", "nat64"],
  ];
  for (const [address, embedding] of loopbackForms) {
    const kind = classifyAddress(address);
    assert.equal(kind.public, false, address);
    assert.equal(kind.range, "loopback", address);
    assert.equal(kind.embedded, "127.0.0.1", address);
    assert.equal(kind.embedding, embedding, address);
  }
  assert.deepEqual(classifyAddress("64:ff9b::10.0.0.1"), {
    public: false,
    range: "private",
    embedded: "10.0.0.1",
    embedding: "nat64",
  });
  // 6to4 of 192.168.1.1 and of 10.0.0.1.
  assert.equal(classifyAddress("2002:c0a8:0101::1").range, "private");
  assert.equal(classifyAddress("2002:0a00:0001::").embedded, "10.0.0.1");
  // Teredo: the client address is the last 32 bits inverted (here 127.0.0.1).
  assert.equal(classifyAddress("2001:0:4136:e378:8000:63bf:80ff:fffe").range, "loopback");
  // Mapped metadata address.
  assert.equal(classifyAddress("::ffff:169.254.169.254").range, "linkLocal");
  // IPv4-compatible (deprecated) is never public, even around a public address.
  assert.equal(classifyAddress("::7f00:1").public, false);
  assert.equal(classifyAddress("::8.8.8.8").public, false);
  // A mapped or NAT64 public address is public.
  assert.equal(classifyAddress("::ffff:8.8.8.8").public, true);
  assert.equal(classifyAddress("64:ff9b::8.8.8.8").public, true);
});

Deno.test("text that is not an address is not public", () => {
  assert.deepEqual(classifyAddress("localhost"), { public: false, range: "invalid" });
});

Deno.test("CIDR ranges: an address alone is a range of one; mapped forms match their IPv4 range", () => {
  assert.equal(parseCidr("10.0.0.0/8")?.[1], 8);
  assert.equal(parseCidr("::1")?.[1], 128);
  assert.equal(parseCidr("127.0.0.1")?.[1], 32);
  assert.equal(parseCidr("10.0.0.0/33"), undefined);
  assert.equal(parseCidr("10.0.0.0/x"), undefined);
  assert.equal(parseCidr("example.com/8"), undefined);
  assert.equal(addressInCidr("10.1.2.3", "10.0.0.0/8"), true);
  assert.equal(addressInCidr("11.1.2.3", "10.0.0.0/8"), false);
  assert.equal(addressInCidr("::ffff:127.0.0.1", "127.0.0.1"), true);
  assert.equal(addressInCidr("::ffff:7f00:2", "127.0.0.0/8"), true);
  assert.equal(addressInCidr("::1", "127.0.0.0/8"), false);
  assert.equal(addressInCidr("fd00::5", "fd00::/8"), true);
  assert.equal(addressInCidr("2130706433", "127.0.0.1"), true);
  // NAT64 and 6to4 lead elsewhere first: they are not the IPv4 address for an allowance.
  assert.equal(addressInCidr("64:ff9b::7f00:1", "127.0.0.1"), false);
});

Deno.test("property: any spelling of any IPv4 address reads back as that address and is classified alike", () => {
  const octet = fc.integer({ min: 0, max: 255 });
  const part = (value: number, form: number) =>
    form === 0 ? String(value) : form === 1 ? `0x${value.toString(16)}` : `0${value.toString(8)}`;
  fc.assert(
    fc.property(fc.tuple(octet, octet, octet, octet), fc.integer({ min: 0, max: 2 }), fc.nat(5), (
      octets,
      form,
      spelling,
    ) => {
      const [a, b, c, d] = octets;
      const dotted = octets.join(".");
      const value = ((a << 24) >>> 0) + (b << 16) + (c << 8) + d;
      const hex = (n: number) => n.toString(16);
      const spellings = [
        octets.map((octet) => part(octet, form)).join("."), // four parts
        `${part(a, form)}.${part(b, form)}.${part((c << 8) + d, form)}`, // three parts
        `${part(a, form)}.${part((b << 16) + (c << 8) + d, form)}`, // two parts
        part(value, form), // one number
        `::ffff:${dotted}`, // IPv4-mapped, dotted
        `0:0:0:0:0:ffff:${hex((a << 8) + b)}:${hex((c << 8) + d)}`, // IPv4-mapped, long hex
      ];
      const written = spellings[spelling];
      const expected = classifyAddress(dotted);
      const kind = classifyAddress(written);
      assert.equal(kind.public, expected.public, written);
      assert.equal(kind.range === "unicast" ? "unicast" : kind.range, expected.range, written);
      if (spelling < 4) assert.deepEqual(parseIpLiteral(written), { family: 4, text: dotted }, written);
      else assert.equal(kind.embedded, dotted, written);
    }),
    { numRuns: 2000 },
  );
});
