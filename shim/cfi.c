/*
 * The rule of one frame from the loaded objects' .eh_frame (cfi.h): find the object holding pc
 * (dl_iterate_phdr), its FDE by the binary search table of .eh_frame_hdr, then run the CIE's and
 * the FDE's instructions up to pc, keeping only what a backtrace needs: the CFA, and the rules of
 * rsp, rbp and the return address (DWARF registers 7, 6 and 16). Every other register's rule is
 * skipped: the rules followed never read them.
 */
#define _GNU_SOURCE
#include "cfi.h"

#include <link.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

enum { REG_RBP = 6, REG_RSP = 7, REG_RA = 16 };

/* DW_EH_PE_* pointer encodings */
enum {
	PE_ABSPTR = 0x00, PE_ULEB128 = 0x01, PE_UDATA2 = 0x02, PE_UDATA4 = 0x03, PE_UDATA8 = 0x04,
	PE_SLEB128 = 0x09, PE_SDATA2 = 0x0a, PE_SDATA4 = 0x0b, PE_SDATA8 = 0x0c,
	PE_PCREL = 0x10, PE_DATAREL = 0x30, PE_INDIRECT = 0x80, PE_OMIT = 0xff,
};

/* A bounded reader over a CIE or FDE. */
struct rd {
	const uint8_t *p, *end;
	bool bad;
};

static uint8_t rd_u8(struct rd *r)
{
	if (r->p >= r->end) {
		r->bad = true;
		return 0;
	}
	return *r->p++;
}

static uint64_t rd_fixed(struct rd *r, size_t n)
{
	if ((size_t)(r->end - r->p) < n) {
		r->bad = true;
		r->p = r->end;
		return 0;
	}
	uint64_t v = 0;
	memcpy(&v, r->p, n);    /* x86-64: little endian */
	r->p += n;
	return v;
}

/* LEB128, unsigned or sign-extended */
static uint64_t rd_leb(struct rd *r, bool sign)
{
	uint64_t v = 0;
	unsigned shift = 0;
	uint8_t b;
	do {
		b = rd_u8(r);
		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
	} while ((b & 0x80) && !r->bad);
	if (sign && shift < 64 && (b & 0x40))
		v |= ~(uint64_t)0 << shift;
	return v;
}

static uint64_t rd_uleb(struct rd *r) { return rd_leb(r, false); }
static int64_t rd_sleb(struct rd *r) { return (int64_t)rd_leb(r, true); }

/* An encoded pointer; hdr is .eh_frame_hdr's address (the base of datarel), or 0: none. */
static uintptr_t rd_ptr(struct rd *r, uint8_t enc, uintptr_t hdr)
{
	uintptr_t at = (uintptr_t)r->p, v;
	switch (enc & 0x0f) {
	case PE_ABSPTR: v = (uintptr_t)rd_fixed(r, 8); break;
	case PE_ULEB128: v = (uintptr_t)rd_uleb(r); break;
	case PE_UDATA2: v = (uintptr_t)rd_fixed(r, 2); break;
	case PE_UDATA4: v = (uintptr_t)rd_fixed(r, 4); break;
	case PE_UDATA8: v = (uintptr_t)rd_fixed(r, 8); break;
	case PE_SLEB128: v = (uintptr_t)rd_sleb(r); break;
	case PE_SDATA2: v = (uintptr_t)(int64_t)(int16_t)rd_fixed(r, 2); break;
	case PE_SDATA4: v = (uintptr_t)(int64_t)(int32_t)rd_fixed(r, 4); break;
	case PE_SDATA8: v = (uintptr_t)rd_fixed(r, 8); break;
	default: r->bad = true; return 0;
	}
	switch (enc & 0x70) {
	case 0: break;
	case PE_PCREL: v += at; break;
	case PE_DATAREL: if (!hdr) { r->bad = true; return 0; } v += hdr; break;
	default: r->bad = true; return 0;
	}
	if (enc & PE_INDIRECT)
		r->bad = true;  /* never needed for the pc range; the caller skips such pointers */
	return v;
}

/* Skip an encoded pointer without decoding where it points (personality routines). */
static void rd_skip_ptr(struct rd *r, uint8_t enc)
{
	switch (enc & 0x0f) {
	case PE_ABSPTR: case PE_UDATA8: case PE_SDATA8: rd_fixed(r, 8); break;
	case PE_ULEB128: rd_uleb(r); break;
	case PE_SLEB128: rd_sleb(r); break;
	case PE_UDATA2: case PE_SDATA2: rd_fixed(r, 2); break;
	case PE_UDATA4: case PE_SDATA4: rd_fixed(r, 4); break;
	default: r->bad = true;
	}
}

/* One register's rule, for the three registers kept. */
enum { RULE_UNSPEC, RULE_SAME, RULE_UNDEF, RULE_OFFSET, RULE_OTHER };
struct reg_rule {
	uint8_t kind;
	int64_t off;
};
struct row {
	uint8_t cfa_reg;
	bool cfa_expr;
	int64_t cfa_off;
	struct reg_rule rbp, rsp, ra;
};

static struct reg_rule *row_reg(struct row *s, uint64_t reg)
{
	switch (reg) {
	case REG_RBP: return &s->rbp;
	case REG_RSP: return &s->rsp;
	case REG_RA: return &s->ra;
	default: return NULL;
	}
}

struct cie {
	uint64_t code_align;
	int64_t data_align;
	uint8_t fde_enc;
	bool has_z, signal;
	struct rd insns;
};

#define STATE_DEPTH 8

/*
 * Run the instructions of r over *s up to pc (loc: the address the first applies at; pc == 0:
 * all of them, for a CIE). init: the CIE's row, for DW_CFA_restore. false: an instruction the
 * walk does not follow, or malformed data.
 */
static bool run(struct rd r, struct row *s, const struct row *init, const struct cie *c,
		uintptr_t loc, uintptr_t pc)
{
	struct row stack[STATE_DEPTH];
	int depth = 0;
	while (r.p < r.end && !r.bad) {
		uint8_t op = rd_u8(&r);
		uint64_t reg, adv = 0;
		int64_t off;
		struct reg_rule *rr;
		bool advance = false;
		switch (op >> 6) {
		case 1:                         /* DW_CFA_advance_loc */
			adv = op & 0x3f;
			advance = true;
			break;
		case 2:                         /* DW_CFA_offset */
			off = (int64_t)rd_uleb(&r) * c->data_align;
			if ((rr = row_reg(s, op & 0x3f)))
				*rr = (struct reg_rule){ RULE_OFFSET, off };
			continue;
		case 3:                         /* DW_CFA_restore */
			if ((rr = row_reg(s, op & 0x3f)))
				*rr = *row_reg((struct row *)init, op & 0x3f);
			continue;
		default:
			break;
		}
		if (!advance) {
			switch (op) {
			case 0x00:              /* nop */
				break;
			case 0x01: {            /* set_loc */
				uintptr_t to = rd_ptr(&r, c->fde_enc, 0);
				if (pc && to > pc)
					return !r.bad;
				loc = to;
				break;
			}
			case 0x02: adv = rd_fixed(&r, 1); advance = true; break;
			case 0x03: adv = rd_fixed(&r, 2); advance = true; break;
			case 0x04: adv = rd_fixed(&r, 4); advance = true; break;
			case 0x05:              /* offset_extended */
				reg = rd_uleb(&r);
				off = (int64_t)rd_uleb(&r) * c->data_align;
				if ((rr = row_reg(s, reg)))
					*rr = (struct reg_rule){ RULE_OFFSET, off };
				break;
			case 0x06:              /* restore_extended */
				reg = rd_uleb(&r);
				if ((rr = row_reg(s, reg)))
					*rr = *row_reg((struct row *)init, reg);
				break;
			case 0x07:              /* undefined */
			case 0x08:              /* same_value */
				reg = rd_uleb(&r);
				if ((rr = row_reg(s, reg)))
					*rr = (struct reg_rule){ op == 0x07 ? RULE_UNDEF : RULE_SAME, 0 };
				break;
			case 0x09:              /* register */
				reg = rd_uleb(&r);
				rd_uleb(&r);
				if ((rr = row_reg(s, reg)))
					rr->kind = RULE_OTHER;
				break;
			case 0x0a:              /* remember_state */
				if (depth == STATE_DEPTH)
					return false;
				stack[depth++] = *s;
				break;
			case 0x0b:              /* restore_state: the CFA too, as the unwinders do */
				if (depth == 0)
					return false;
				*s = stack[--depth];
				break;
			case 0x0c:              /* def_cfa */
				s->cfa_reg = (uint8_t)rd_uleb(&r);
				s->cfa_off = (int64_t)rd_uleb(&r);
				s->cfa_expr = false;
				break;
			case 0x0d:              /* def_cfa_register */
				s->cfa_reg = (uint8_t)rd_uleb(&r);
				s->cfa_expr = false;
				break;
			case 0x0e:              /* def_cfa_offset */
				s->cfa_off = (int64_t)rd_uleb(&r);
				break;
			case 0x0f:              /* def_cfa_expression */
				r.p += rd_uleb(&r);
				s->cfa_expr = true;
				break;
			case 0x10:              /* expression */
			case 0x16:              /* val_expression */
				reg = rd_uleb(&r);
				r.p += rd_uleb(&r);
				if ((rr = row_reg(s, reg)))
					rr->kind = RULE_OTHER;
				break;
			case 0x11:              /* offset_extended_sf */
				reg = rd_uleb(&r);
				off = rd_sleb(&r) * c->data_align;
				if ((rr = row_reg(s, reg)))
					*rr = (struct reg_rule){ RULE_OFFSET, off };
				break;
			case 0x12:              /* def_cfa_sf */
				s->cfa_reg = (uint8_t)rd_uleb(&r);
				s->cfa_off = rd_sleb(&r) * c->data_align;
				s->cfa_expr = false;
				break;
			case 0x13:              /* def_cfa_offset_sf */
				s->cfa_off = rd_sleb(&r) * c->data_align;
				break;
			case 0x14:              /* val_offset */
			case 0x15:              /* val_offset_sf */
				reg = rd_uleb(&r);
				if (op == 0x14)
					rd_uleb(&r);
				else
					rd_sleb(&r);
				if ((rr = row_reg(s, reg)))
					rr->kind = RULE_OTHER;
				break;
			case 0x2e:              /* GNU_args_size: matters for landing pads, not for a walk */
				rd_uleb(&r);
				break;
			case 0x2f:              /* GNU_negative_offset_extended */
				reg = rd_uleb(&r);
				off = -(int64_t)rd_uleb(&r) * c->data_align;
				if ((rr = row_reg(s, reg)))
					*rr = (struct reg_rule){ RULE_OFFSET, off };
				break;
			default:
				return false;
			}
			if (r.p > r.end)
				return false;
		}
		if (advance) {
			uintptr_t to = loc + (uintptr_t)(adv * c->code_align);
			if (pc && to > pc)
				return !r.bad;
			loc = to;
		}
	}
	return !r.bad;
}

static bool parse_cie(const uint8_t *p, struct cie *c)
{
	uint32_t len;
	memcpy(&len, p, 4);
	if (len == 0 || len == 0xffffffffu)
		return false;
	struct rd r = { p + 4, p + 4 + len, false };
	if (rd_fixed(&r, 4) != 0)       /* CIE id */
		return false;
	uint8_t version = rd_u8(&r);
	if (version != 1 && version != 3)
		return false;
	const char *aug = (const char *)r.p;
	size_t alen = strnlen(aug, (size_t)(r.end - r.p));
	if ((size_t)(r.end - r.p) <= alen)
		return false;
	r.p += alen + 1;
	c->code_align = rd_uleb(&r);
	c->data_align = rd_sleb(&r);
	uint64_t ra = version == 1 ? rd_u8(&r) : rd_uleb(&r);
	if (ra != REG_RA)
		return false;
	c->fde_enc = PE_ABSPTR;
	c->has_z = aug[0] == 'z';
	c->signal = false;
	if (alen && !c->has_z)
		return false;   /* augmentation data whose length is not given ("eh", ...) */
	const uint8_t *data_end = r.p;
	if (c->has_z) {
		uint64_t dlen = rd_uleb(&r);
		if (dlen > (uint64_t)(r.end - r.p))
			return false;
		data_end = r.p + dlen;
	}
	for (size_t i = 1; i < alen && !r.bad; i++) {
		switch (aug[i]) {
		case 'R': c->fde_enc = rd_u8(&r); break;
		case 'L': rd_u8(&r); break;
		case 'P': rd_skip_ptr(&r, rd_u8(&r)); break;
		case 'S': c->signal = true; break;
		case 'B': case 'G': break;
		default: return false;
		}
	}
	if (r.bad || r.p > data_end)
		return false;
	c->insns = (struct rd){ data_end, r.end, false };
	return true;
}

static struct mg_cfi_rule not_followed(void) { return (struct mg_cfi_rule){ .ok = 0 }; }

/*
 * An FDE's addresses are read without a datarel base: x86-64 compilers write them pc-relative, and
 * a base guessed wrong could take a wrong FDE for pc's (such an FDE is "not followed").
 */
static struct mg_cfi_rule rule_from_fde(const uint8_t *fde, uintptr_t pc)
{
	uint32_t len, cie_off;
	memcpy(&len, fde, 4);
	if (len == 0 || len == 0xffffffffu)
		return not_followed();
	memcpy(&cie_off, fde + 4, 4);
	if (cie_off == 0 || cie_off > (uintptr_t)(fde + 4))
		return not_followed();
	struct cie c;
	if (!parse_cie(fde + 4 - cie_off, &c) || c.signal)
		return not_followed();
	struct rd r = { fde + 8, fde + 4 + len, false };
	uintptr_t begin = rd_ptr(&r, c.fde_enc, 0);
	uintptr_t range = rd_ptr(&r, c.fde_enc & 0x0f, 0);
	if (r.bad || pc < begin || pc - begin >= range)
		return not_followed();
	if (c.has_z) {
		uint64_t alen = rd_uleb(&r);
		if (alen > (uint64_t)(r.end - r.p))
			return not_followed();
		r.p += alen;
	}
	struct row init = { .cfa_reg = REG_RSP }, s;
	if (!run(c.insns, &init, &init, &c, 0, 0))
		return not_followed();
	s = init;
	if (!run(r, &s, &init, &c, begin, pc))
		return not_followed();

	struct mg_cfi_rule out = { .ok = 1 };
	if (s.cfa_expr || (s.cfa_reg != REG_RSP && s.cfa_reg != REG_RBP) ||
	    s.cfa_off < INT32_MIN || s.cfa_off > INT32_MAX || s.rsp.kind != RULE_UNSPEC)
		return not_followed();
	out.cfa_rbp = s.cfa_reg == REG_RBP;
	out.cfa_off = (int32_t)s.cfa_off;
	if (s.ra.kind == RULE_UNDEF) {
		out.end = 1;
	} else if (s.ra.kind == RULE_OFFSET && s.ra.off >= INT8_MIN && s.ra.off <= INT8_MAX) {
		out.ra_off = (int8_t)s.ra.off;
	} else {
		return not_followed();
	}
	switch (s.rbp.kind) {
	case RULE_UNSPEC: case RULE_SAME: out.rbp = MG_CFI_RBP_SAME; break;
	case RULE_UNDEF: out.rbp = MG_CFI_RBP_LOST; break;
	case RULE_OFFSET:
		if (s.rbp.off < INT16_MIN || s.rbp.off > INT16_MAX)
			return not_followed();
		out.rbp = MG_CFI_RBP_SAVED;
		out.rbp_off = (int16_t)s.rbp.off;
		break;
	default:
		return not_followed();
	}
	return out;
}

/* .eh_frame_hdr's search table: the FDE whose initial location is the last one <= pc. */
static const uint8_t *fde_of(uintptr_t hdr, uintptr_t pc)
{
	const uint8_t *h = (const uint8_t *)hdr;
	if (h[0] != 1 || h[3] != (PE_DATAREL | PE_SDATA4))
		return NULL;
	struct rd r = { h + 4, h + 32, false };
	rd_ptr(&r, h[1], hdr);          /* eh_frame_ptr: not needed with the table */
	if (h[2] == PE_OMIT)
		return NULL;
	uint64_t n = rd_ptr(&r, h[2], hdr);
	if (r.bad || n == 0)
		return NULL;
	const int32_t *t = (const int32_t *)(const void *)r.p;
	uint64_t lo = 0, hi = n;        /* the answer is in [lo, hi) */
	if (pc < hdr + (intptr_t)t[0])
		return NULL;
	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (hdr + (intptr_t)t[2 * mid] <= pc)
			lo = mid;
		else
			hi = mid;
	}
	return (const uint8_t *)(hdr + (intptr_t)t[2 * lo + 1]);
}

struct find {
	uintptr_t pc, hdr;
	bool found;
};

static int find_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	struct find *f = arg;
	const ElfW(Phdr) *eh = NULL;
	bool in = false;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_GNU_EH_FRAME)
			eh = ph;
		else if (ph->p_type == PT_LOAD && f->pc - (info->dlpi_addr + ph->p_vaddr) < ph->p_memsz)
			in = true;
	}
	if (!in)
		return 0;
	f->found = true;
	f->hdr = eh ? info->dlpi_addr + eh->p_vaddr : 0;
	return 1;
}

struct mg_cfi_rule mg_cfi_rule_at(uintptr_t pc)
{
	struct find f = { .pc = pc };
	dl_iterate_phdr(find_object, &f);
	if (!f.found || !f.hdr)
		return not_followed();
	const uint8_t *fde = fde_of(f.hdr, pc);
	return fde ? rule_from_fde(fde, pc) : not_followed();
}
