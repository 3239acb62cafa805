/* http_client.c: the consumers' HTTP POST, its outcome rule and Retry-After
 * (see hookbus/http_client.h). */
#include "hookbus/http_client.h"

#include <stdio.h>
#include <string.h>

#include "hookbus/util.h"

enum hb_act hb_http_classify(long status, int curl_code)
{
    if (curl_code != CURLE_OK)
        return HB_ACT_RETRY;
    if (status >= 200 && status < 300)
        return HB_ACT_DONE;
    if (status == 408 || status == 429 || (status >= 500 && status < 600))
        return HB_ACT_RETRY;
    return HB_ACT_DROP;
}

long hb_http_retry_after_ms(const char *value, time_t now)
{
    const long max_s = HB_HTTP_RETRY_AFTER_MAX_MS / 1000;
    long s = 0;
    if (!value)
        return 0;
    value += strspn(value, " \t");
    size_t digits = strspn(value, "0123456789");
    if (digits && value[digits + strspn(value + digits, " \t")] == '\0') {
        for (size_t i = 0; i < digits && s < max_s; i++) /* saturates, never overflows */
            s = s * 10 + (value[i] - '0');
    } else if (!digits || value[digits] == ',' || value[digits] == ' ') {
        /* An HTTP-date ("Sun, 06 Nov 1994 08:49:37 GMT"); libcurl's parser also
         * takes the obsolete RFC 850 and asctime forms the RFC asks us to. */
        time_t at = curl_getdate(value, NULL);
        if (at == (time_t)-1 || at <= now)
            return 0;
        s = at - now > max_s ? max_s : (long)(at - now);
    }
    return s > max_s ? HB_HTTP_RETRY_AFTER_MAX_MS : s * 1000;
}

enum hb_act hb_http_post(struct hb_curl_pool *pool, const struct hb_http_request *req,
                         struct hb_http_result *res)
{
    struct hb_buf reply;
    struct curl_header *ra = NULL;
    memset(res, 0, sizeof(*res));
    CURL *h = hb_curl_pool_get(pool);
    if (!h) {
        res->curl_code = CURLE_OUT_OF_MEMORY;
        snprintf(res->error, sizeof(res->error), "cannot create a curl handle");
        return hb_http_classify(0, res->curl_code);
    }
    hb_buf_init(&reply, HB_HTTP_REPLY_MAX);
    curl_easy_setopt(h, CURLOPT_URL, req->url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->bodylen);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, req->headers);
    if (req->user_agent)
        curl_easy_setopt(h, CURLOPT_USERAGENT, req->user_agent);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, req->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     req->connect_timeout_ms ? req->connect_timeout_ms : req->timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, res->error);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, hb_buf_write_prefix);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &reply);
    if (req->ca_file && *req->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, req->ca_file);
    if (req->insecure_skip_verify) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    int64_t t0 = hb_mono_ms();
    CURLcode rc = curl_easy_perform(h);
    res->ms = (long)(hb_mono_ms() - t0);
    res->curl_code = (int)rc;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res->status);
        if (curl_easy_header(h, "Retry-After", 0, CURLH_HEADER, -1, &ra) == CURLHE_OK)
            res->retry_after_ms = hb_http_retry_after_ms(ra->value, time(NULL));
        if (reply.p) {
            hb_str_one_line(reply.p);
            hb_strlcpy(res->reply, reply.p, sizeof(res->reply));
        }
    } else if (!res->error[0]) {
        hb_strlcpy(res->error, curl_easy_strerror(rc), sizeof(res->error));
    }
    hb_buf_free(&reply);
    hb_curl_pool_put(pool, h); /* resets the options: nothing points at our buffers */
    return hb_http_classify(res->status, res->curl_code);
}
