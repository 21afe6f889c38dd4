import { z } from "zod";

// Zod compiles parsers with new Function unless told not to, and asks whether it may as soon as a schema
// is built; the CSP (default-src 'self') forbids eval and Chromium reports each attempt as a violation.
// Imported first by main.tsx, so it runs before any module that builds a schema.
z.config({ jitless: true });
