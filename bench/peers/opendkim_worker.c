/* OpenDKIM's library (libopendkim, Debian's libopendkim-dev) as a
 * contender of the cross-peer benchmark (run.py).
 *
 *   opendkim_worker KEYDIR      (built by bench/peers/setup.sh)
 *
 * Speaks the workers' line protocol on stdin/stdout (README.md). Keys come
 * from KEYDIR (rsa.pem, ed.pem); records from KEYDIR/records.txt through
 * the library's file query method (DKIM_QUERY_FILE, what opendkim's
 * TestPublicKeys uses), no DNS. Messages go in with dkim_chunk(), which
 * splits header fields as the milter would hand them over. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <opendkim/dkim.h>

static DKIM_LIB *lib;
static unsigned char *keys[2]; /* rsa, ed */

static char *slurp(const char *path, size_t *len) {
	FILE *f = fopen(path, "rb");
	if (f == NULL) return NULL;
	size_t cap = 1 << 16, n = 0, r;
	char *buf = malloc(cap + 1);
	while (buf != NULL && (r = fread(buf + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) {
			char *bigger = realloc(buf, 2 * cap + 1);
			if (bigger == NULL) { free(buf); buf = NULL; break; }
			buf = bigger;
			cap *= 2;
		}
	}
	fclose(f);
	if (buf == NULL) return NULL;
	buf[n] = '\0';
	if (len != NULL) *len = n;
	return buf;
}

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A small cache of the messages read (the driver uses a few files). */
#define FILES 64
static struct { char *path, *data; size_t len; } files[FILES];

static const char *load(const char *path, size_t *len) {
	int i;
	for (i = 0; i < FILES && files[i].path != NULL; i++)
		if (strcmp(files[i].path, path) == 0) { *len = files[i].len; return files[i].data; }
	if (i == FILES) return NULL;
	char *data = slurp(path, len);
	if (data == NULL) return NULL;
	files[i].path = strdup(path);
	files[i].data = data;
	files[i].len = *len;
	return data;
}

/* Appends d's signature field, "DKIM-Signature: ...\r\n", at out + *used,
 * its folded lines ending in CRLF, the message's line ends. */
static const char *append_field(DKIM *d, char *out, size_t outlen, size_t *used) {
	static const char name[] = "DKIM-Signature: ";
	char raw[8192];
	size_t n = strlen(name), o = *used;
	memcpy(raw, name, n);
	if (dkim_getsighdr(d, (u_char *)raw + n, sizeof raw - n, n) != DKIM_STAT_OK)
		return "dkim_getsighdr failed";
	for (const char *p = raw; *p != '\0'; p++) {
		if (o + 3 >= outlen) return "signature too long";
		if (*p == '\n' && (p == raw || p[-1] != '\r')) out[o++] = '\r';
		out[o++] = *p;
	}
	if (o + 3 >= outlen) return "signature too long";
	out[o++] = '\r', out[o++] = '\n', out[o] = '\0';
	*used = o;
	return NULL;
}

/* Signs msg with "rsa", "ed" or "dual" (both keys, one signing handle
 * each, as the opendkim filter signs with several keys); on success,
 * if out is not NULL, writes the signature field(s) into it, RSA first. */
static const char *sign_one(const char *alg, const char *msg, size_t len, char *out, size_t outlen) {
	int which[2], n = 0;
	if (strcmp(alg, "rsa") == 0 || strcmp(alg, "dual") == 0) which[n++] = 0;
	if (strcmp(alg, "ed") == 0 || strcmp(alg, "dual") == 0) which[n++] = 1;
	if (n == 0) return "unknown algorithm";
	DKIM *d[2] = {NULL, NULL};
	const char *err = NULL;
	for (int i = 0; err == NULL && i < n; i++) {
		DKIM_STAT st;
		int ed = which[i];
		d[i] = dkim_sign(lib, (const unsigned char *)"bench", NULL, keys[ed],
		                 (const unsigned char *)(ed ? "ed" : "rsa"),
		                 (const unsigned char *)"example.com", DKIM_CANON_RELAXED,
		                 DKIM_CANON_RELAXED, ed ? DKIM_SIGN_ED25519SHA256 : DKIM_SIGN_RSASHA256,
		                 -1, &st);
		if (d[i] == NULL) err = "dkim_sign failed";
	}
	for (int i = 0; err == NULL && i < n; i++) {
		if (dkim_chunk(d[i], (u_char *)msg, len) != DKIM_STAT_OK || dkim_chunk(d[i], NULL, 0) != DKIM_STAT_OK)
			err = "dkim_chunk failed";
		else if (dkim_eom(d[i], NULL) != DKIM_STAT_OK)
			err = "dkim_eom failed";
	}
	size_t used = 0;
	for (int i = 0; err == NULL && out != NULL && i < n; i++)
		err = append_field(d[i], out, outlen, &used);
	for (int i = 0; i < n; i++)
		if (d[i] != NULL) dkim_free(d[i]);
	return err;
}

static const char *verify_one(const char *msg, size_t len) {
	DKIM_STAT st;
	DKIM *d = dkim_verify(lib, (const unsigned char *)"bench", NULL, &st);
	if (d == NULL) return "dkim_verify failed";
	const char *err = NULL;
	if ((st = dkim_chunk(d, (u_char *)msg, len)) != DKIM_STAT_OK ||
	    (st = dkim_chunk(d, NULL, 0)) != DKIM_STAT_OK || (st = dkim_eom(d, NULL)) != DKIM_STAT_OK)
		err = dkim_getresultstr(st);
	else {
		DKIM_SIGINFO **sigs;
		int n = 0;
		if (dkim_getsiglist(d, &sigs, &n) != DKIM_STAT_OK || n == 0)
			err = "no signature";
		for (int i = 0; err == NULL && i < n; i++)
			if (!DKIM_SIG_CHECK(sigs[i])) err = "a signature did not verify";
	}
	dkim_free(d);
	return err;
}

int main(int argc, char **argv) {
	if (argc != 2) { fprintf(stderr, "usage: opendkim_worker KEYDIR\n"); return 2; }
	char path[4096];
	const char *names[2] = {"rsa.pem", "ed.pem"};
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof path, "%s/%s", argv[1], names[i]);
		if ((keys[i] = (unsigned char *)slurp(path, NULL)) == NULL) { perror(path); return 1; }
	}
	lib = dkim_init(NULL, NULL);
	if (lib == NULL) { fprintf(stderr, "dkim_init failed\n"); return 1; }
	dkim_query_t method = DKIM_QUERY_FILE;
	snprintf(path, sizeof path, "%s/records.txt", argv[1]);
	const char *sign_headers[] = {"from", "to", "subject", "date", "message-id", NULL};
	if (dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_QUERYMETHOD, &method, sizeof method) != DKIM_STAT_OK ||
	    dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_QUERYINFO, path, strlen(path)) != DKIM_STAT_OK ||
	    dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS, sign_headers, sizeof(char **)) != DKIM_STAT_OK) {
		fprintf(stderr, "dkim_options failed\n");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	char line[8192], a[4096], b[4096], c[4096];
	while (fgets(line, sizeof line, stdin) != NULL) {
		const char *err = NULL;
		double secs = 0;
		size_t len;
		const char *msg;
		long n;
		if (strcmp(line, "quit\n") == 0) break;
		if (sscanf(line, "sign %4095s %4095s %ld", a, b, &n) == 3) {
			if ((msg = load(b, &len)) == NULL) err = "cannot read the message";
			double start = now();
			for (long i = 0; err == NULL && i < n; i++)
				err = sign_one(a, msg, len, NULL, 0);
			secs = now() - start;
		} else if (sscanf(line, "signout %4095s %4095s %4095s", a, b, c) == 3) {
			static char sig[16384];
			if ((msg = load(b, &len)) == NULL) err = "cannot read the message";
			else if ((err = sign_one(a, msg, len, sig, sizeof sig)) == NULL) {
				FILE *f = fopen(c, "wb");
				if (f == NULL || fputs(sig, f) < 0 || fwrite(msg, 1, len, f) != len) err = "cannot write";
				if (f != NULL && fclose(f) != 0) err = "cannot write";
			}
		} else if (sscanf(line, "verify %4095s %ld", a, &n) == 2) {
			if ((msg = load(a, &len)) == NULL) err = "cannot read the message";
			double start = now();
			for (long i = 0; err == NULL && i < n; i++)
				err = verify_one(msg, len);
			secs = now() - start;
		} else {
			err = "unknown command";
		}
		if (err != NULL) printf("err %s\n", err);
		else printf("ok %.9f\n", secs);
	}
	dkim_close(lib);
	return 0;
}
