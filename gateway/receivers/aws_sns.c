/* aws_sns.c: Amazon SNS HTTPS subscriptions. SNS posts JSON messages
 * (x-amz-sns-message-type) signed with an RSA key whose certificate it names
 * in SigningCertURL: SignatureVersion 1 is SHA1withRSA, 2 SHA256withRSA, over
 * the "Name\nvalue\n" lines of the message's fields in the documented order.
 *
 * Authentication (verify): the TopicArn must be in topic_arns (checked before
 * anything is fetched), SigningCertURL must be https on a host matching
 * cert_host (default the sns.<region>.amazonaws.com hosts), and the
 * signature must verify with that certificate. Certificates are fetched with
 * a size and time bound and cached per URL. The key route also
 * authenticates (a key URL as the subscription endpoint), without a
 * signature check.
 *
 * Messages (normalize): a SubscriptionConfirmation whose signature was
 * checked is confirmed by a GET of SubscribeURL (https, cert_host, bounded)
 * and answered 200; an UnsubscribeConfirmation is logged and answered 200;
 * a Notification's Message is an EventBridge ECR event (or anything else the
 * ecr receiver takes) and is normalized by the ecr receiver. */
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/format.h"
#include "hookbus/log.h"
#include "hookbus/util.h"
#include "receivers/receiver.h"

#define SNS_DEFAULT_HOST "^sns\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?$"
#define SNS_MAX_CERT (16 * 1024) /* a signing certificate is ~2 KB of PEM */
#define SNS_MAX_REPLY (64 * 1024)
#define SNS_CACHE 8
#define SNS_FETCH_TIMEOUT_S 5L
#define SNS_MAX_TOPICS 64

struct sns_cert {
    char *url;
    EVP_PKEY *key;
};

struct sns {
    char *topics[SNS_MAX_TOPICS];
    size_t ntopics;
    regex_t host;
    bool host_compiled;
    char *ca_file;
    pthread_mutex_t lock; /* the cache below */
    struct sns_cert cache[SNS_CACHE];
    size_t next; /* round-robin eviction */
};

static void sns_destroy(struct gw_receiver *r)
{
    struct sns *s = r->priv;
    if (!s)
        return;
    for (size_t i = 0; i < s->ntopics; i++)
        free(s->topics[i]);
    for (size_t i = 0; i < SNS_CACHE; i++) {
        free(s->cache[i].url);
        EVP_PKEY_free(s->cache[i].key);
    }
    if (s->host_compiled)
        regfree(&s->host);
    free(s->ca_file);
    pthread_mutex_destroy(&s->lock);
    free(s);
    r->priv = NULL;
}

enum { OPT_TOPIC_ARNS, OPT_CERT_HOST, OPT_CA_FILE };
static const char *const options[] = {"topic_arns", "cert_host", "ca_file", NULL};

/* topic_arns (a list, or one string), cert_host (an extended regex for the
 * host[:port] of the URLs fetched), ca_file (the CA bundle for them). */
static int sns_configure(struct gw_receiver *r, const struct hb_config *cfg,
                         const struct hb_node *node, char *err, size_t errlen)
{
    struct sns *s = calloc(1, sizeof(*s));
    if (!s)
        return hb_config_error(cfg, node, err, errlen, "out of memory");
    pthread_mutex_init(&s->lock, NULL);
    r->priv = s;
    r->own_auth = true;
    const struct hb_node *t = hb_node_get(node, options[OPT_TOPIC_ARNS]);
    const struct hb_node *h = hb_node_get(node, options[OPT_CERT_HOST]);
    const struct hb_node *ca = hb_node_get(node, options[OPT_CA_FILE]);
    size_t n = t && t->type == HB_NODE_SEQ ? t->n : 1;
    if (!t || (t->type != HB_NODE_SEQ && t->type != HB_NODE_SCALAR) || n == 0 || n > SNS_MAX_TOPICS)
        return hb_config_error(cfg, t ? t : node, err, errlen,
                               "receivers[%s].topic_arns: required, the SNS topic ARNs "
                               "accepted (a list of at most %d)",
                               r->name, SNS_MAX_TOPICS);
    for (size_t i = 0; i < n; i++) {
        const struct hb_node *v = t->type == HB_NODE_SEQ ? &t->items[i] : t;
        ((struct hb_node *)v)->used = true;
        if (v->type != HB_NODE_SCALAR || !hb_str_has_prefix(v->value, "arn:"))
            return hb_config_error(cfg, v, err, errlen,
                                   "receivers[%s].topic_arns: '%s' is not a topic ARN", r->name,
                                   v->type == HB_NODE_SCALAR ? v->value : "");
        if (!(s->topics[s->ntopics++] = strdup(v->value)))
            return hb_config_error(cfg, v, err, errlen, "out of memory");
    }
    if ((h && h->type != HB_NODE_SCALAR) || (ca && ca->type != HB_NODE_SCALAR))
        return hb_config_error(cfg, h && h->type != HB_NODE_SCALAR ? h : ca, err, errlen,
                               "receivers[%s]: cert_host and ca_file are strings", r->name);
    if (regcomp(&s->host, h ? h->value : SNS_DEFAULT_HOST, REG_EXTENDED | REG_NOSUB | REG_ICASE))
        return hb_config_error(cfg, h, err, errlen,
                               "receivers[%s].cert_host: not an extended regular expression",
                               r->name);
    s->host_compiled = true;
    if (ca && !(s->ca_file = strdup(ca->value)))
        return hb_config_error(cfg, ca, err, errlen, "out of memory");
    return 0;
}

/* True for an https URL whose host[:port] matches cert_host. */
static bool url_allowed(const struct sns *s, const char *url)
{
    char host[256];
    if (!url || !hb_str_has_prefix(url, "https://"))
        return false;
    const char *p = url + strlen("https://");
    size_t n = strcspn(p, "/?#");
    if (!n || n >= sizeof(host) || memchr(p, '@', n))
        return false;
    memcpy(host, p, n);
    host[n] = '\0';
    return regexec(&s->host, host, 0, NULL, 0) == 0;
}

struct fetch_buf {
    struct hb_buf buf;
    bool over;
};

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
    struct fetch_buf *f = arg;
    if (hb_buf_append(&f->buf, data, size * n) < 0) {
        f->over = true;
        return 0;
    }
    return size * n;
}

/* GET url (https only, no redirects, bounded in size and time) into out
 * (caller frees with hb_buf_free). 0 on a 200, else -1. */
static int fetch(const struct sns *s, const char *url, size_t max, struct hb_buf *out)
{
    struct fetch_buf f = {.over = false};
    long code = 0;
    hb_buf_init(&f.buf, max);
    CURL *c = curl_easy_init();
    if (!c)
        goto fail;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, SNS_FETCH_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &f);
    if (s->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, s->ca_file);
    if (curl_easy_perform(c) != CURLE_OK || f.over)
        goto fail;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200)
        goto fail;
    curl_easy_cleanup(c);
    *out = f.buf;
    return 0;
fail:
    if (c)
        curl_easy_cleanup(c);
    hb_buf_free(&f.buf);
    return -1;
}

/* The public key of the certificate at url: from the cache, else fetched
 * and cached. A new reference (EVP_PKEY_free it), or NULL. */
static EVP_PKEY *signing_key(struct sns *s, const char *url)
{
    EVP_PKEY *key = NULL;
    struct hb_buf pem;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < SNS_CACHE && !key; i++)
        if (s->cache[i].url && strcmp(s->cache[i].url, url) == 0 &&
            EVP_PKEY_up_ref(s->cache[i].key) == 1)
            key = s->cache[i].key;
    pthread_mutex_unlock(&s->lock);
    if (key || fetch(s, url, SNS_MAX_CERT, &pem) < 0)
        return key;
    BIO *bio = BIO_new_mem_buf(pem.p, (int)pem.len);
    X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    key = cert ? X509_get_pubkey(cert) : NULL;
    X509_free(cert);
    BIO_free(bio);
    hb_buf_free(&pem);
    char *u = key ? strdup(url) : NULL;
    if (!u || EVP_PKEY_up_ref(key) != 1) {
        free(u);
        return key;
    }
    pthread_mutex_lock(&s->lock);
    struct sns_cert *slot = &s->cache[s->next++ % SNS_CACHE];
    free(slot->url);
    EVP_PKEY_free(slot->key);
    slot->url = u;
    slot->key = key;
    pthread_mutex_unlock(&s->lock);
    return key;
}

/* Appends "Name\nvalue\n" for each field present, in the order given. */
static int string_to_sign(const cJSON *m, const char *const *names, struct hb_buf *out)
{
    for (size_t i = 0; names[i]; i++) {
        const char *v = gw_json_str(m, names[i]);
        if (!v)
            continue;
        if (hb_buf_append(out, names[i], strlen(names[i])) < 0 || hb_buf_append(out, "\n", 1) < 0 ||
            hb_buf_append(out, v, strlen(v)) < 0 || hb_buf_append(out, "\n", 1) < 0)
            return -1;
    }
    return 0;
}

static bool topic_allowed(const struct sns *s, const char *arn)
{
    for (size_t i = 0; arn && i < s->ntopics; i++)
        if (strcmp(s->topics[i], arn) == 0)
            return true;
    return false;
}

static int sns_verify(const struct gw_receiver *r, const struct gw_request *req,
                      const char **reason)
{
    static const char *const notification[] = {"Message",  "MessageId", "Subject", "Timestamp",
                                               "TopicArn", "Type",      NULL};
    static const char *const subscription[] = {"Message", "MessageId", "SubscribeURL", "Timestamp",
                                               "Token",   "TopicArn",  "Type",         NULL};
    struct sns *s = r->priv;
    struct hb_buf text;
    EVP_PKEY *key = NULL;
    EVP_MD_CTX *md = NULL;
    unsigned char *sig = NULL;
    size_t siglen = 0;
    int rc = -1;
    hb_buf_init(&text, req->body_len + 256);
    cJSON *m = hb_json_parse((const char *)req->body, req->body_len);
    const char *type = gw_json_str(m, "Type"), *version = gw_json_str(m, "SignatureVersion");
    const char *sig64 = gw_json_str(m, "Signature"), *cert = gw_json_str(m, "SigningCertURL");
    *reason = "not a signed SNS message";
    if (!s || !type || !version || !sig64 || !cert)
        goto fail;
    *reason = "TopicArn is not in topic_arns";
    if (!topic_allowed(s, gw_json_str(m, "TopicArn")))
        goto fail;
    *reason = "SigningCertURL is not https on an allowed host (cert_host)";
    if (!url_allowed(s, cert))
        goto fail;
    bool v1 = strcmp(version, "1") == 0, v2 = strcmp(version, "2") == 0;
    *reason = "unknown SignatureVersion";
    if (!v1 && !v2)
        goto fail;
    *reason = "signing certificate could not be fetched";
    if (!(key = signing_key(s, cert)))
        goto fail;
    *reason = "SNS signature does not verify";
    if (string_to_sign(m, strcmp(type, "Notification") == 0 ? notification : subscription, &text) <
            0 ||
        !(sig = hb_base64_decode(sig64, strlen(sig64), &siglen)) || !(md = EVP_MD_CTX_new()))
        goto fail;
    if (EVP_DigestVerifyInit(md, NULL, v1 ? EVP_sha1() : EVP_sha256(), NULL, key) == 1 &&
        EVP_DigestVerify(md, sig, siglen, (const unsigned char *)text.p, text.len) == 1)
        rc = 0;
fail:
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    free(sig);
    hb_buf_free(&text);
    cJSON_Delete(m);
    return rc;
}

/* The inner message has no HTTP headers of its own. */
static const char *no_header(const struct gw_request *req, const char *name)
{
    (void)req;
    (void)name;
    return NULL;
}

static void no_headers(const struct gw_request *req,
                       void (*fn)(void *arg, const char *name, const char *value), void *arg)
{
    (void)req;
    (void)fn;
    (void)arg;
}

/* Runs the ecr receiver over the Notification's Message. */
static void notification(struct gw_ctx *ctx, const char *message)
{
    const struct gw_request *outer = ctx->req;
    struct gw_request inner = *outer;
    cJSON *outer_body = ctx->body_json;
    inner.body = (const unsigned char *)message;
    inner.body_len = strlen(message);
    inner.content_type = "application/json";
    inner.header = no_header;
    inner.each_header = no_headers;
    ctx->req = &inner;
    ctx->body_json = NULL;
    ctx->body_parsed = false;
    gw_receiver_ecr.normalize(ctx);
    cJSON_Delete(ctx->body_json);
    ctx->body_json = outer_body;
    ctx->body_parsed = true;
    ctx->req = outer;
}

static void sns_normalize(struct gw_ctx *ctx)
{
    const struct sns *s = ctx->rcv->priv;
    struct hb_buf reply;
    const cJSON *root = gw_body_json(ctx);
    if (!root)
        return;
    const char *type = gw_json_str(root, "Type");
    gw_set_delivery_id(ctx, gw_json_str(root, "MessageId"));
    if (!type) {
        gw_bad_request(ctx, "SNS message has no Type");
    } else if (strcmp(type, "Notification") == 0) {
        const char *message = gw_json_str(root, "Message");
        if (message)
            notification(ctx, message);
        else
            gw_bad_request(ctx, "SNS Notification has no Message");
    } else if (strcmp(type, "SubscriptionConfirmation") == 0) {
        const char *url = gw_json_str(root, "SubscribeURL");
        /* Only a message whose signature was checked is confirmed. */
        if (ctx->req->key_route || ctx->rcv->insecure_no_auth || !s) {
            gw_ignore(ctx, "subscription not confirmed: the signature was not checked");
        } else if (!url_allowed(s, url)) {
            gw_bad_request(ctx, "SubscribeURL is not https on an allowed host (cert_host)");
        } else if (fetch(s, url, SNS_MAX_REPLY, &reply) < 0) {
            gw_set_status(ctx, 502, "the subscription could not be confirmed");
        } else {
            hb_buf_free(&reply);
            HB_LOG(HB_LOG_INFO, "SNS subscription confirmed", HB_S("receiver", ctx->rcv->name),
                   HB_S("topic", gw_json_str(root, "TopicArn")));
            gw_ignore(ctx, "subscription confirmed");
        }
    } else if (strcmp(type, "UnsubscribeConfirmation") == 0) {
        HB_LOG(HB_LOG_INFO, "SNS subscription ended", HB_S("receiver", ctx->rcv->name),
               HB_S("topic", gw_json_str(root, "TopicArn")));
        gw_ignore(ctx, "unsubscribe confirmation logged");
    } else {
        gw_ignore(ctx, "SNS message type '%.64s' is not acted on", type);
    }
}

const struct gw_receiver_type gw_receiver_aws_sns = {
    .type = "aws-sns",
    .provider = "ecr",
    .options = options,
    .configure = sns_configure,
    .verify = sns_verify,
    .normalize = sns_normalize,
    .destroy = sns_destroy,
};
