package s3

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Client returns an S3 client for c's service, region, addressing and credentials, made as
// the Store makes its own; hc sends the requests (nil: the SDK's default client). It fails,
// saying what to set, when c has no bucket or no credentials (fill them in with FromEnv).
func (c Config) Client(hc s3.HTTPClient) (*s3.Client, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	o := s3.Options{
		Region:       c.Region,
		Credentials:  aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)),
		UsePathStyle: c.PathStyle,
		HTTPClient:   hc,
		// Checksums only where S3 requires them: S3-compatible servers differ in which of
		// the newer checksum headers they know, and every byte is hashed here anyway.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	if c.Endpoint != "" {
		o.BaseEndpoint = aws.String(c.Endpoint)
	}
	return s3.New(o), nil
}

// IsNotFound reports whether err is S3's answer for a missing key (not a missing bucket).
func IsNotFound(err error) bool { return isNotFound(err) }

// IsPreconditionFailed reports whether err is S3's answer to a conditional write whose
// condition failed (If-Match: the object changed; If-None-Match: *: it exists) or that
// raced another conditional write to the same key.
func IsPreconditionFailed(err error) bool { return isConflict(err) }

// ErrorCode is the S3 error code of err, e.g. "NoSuchBucket" ("" when err is no S3 error).
func ErrorCode(err error) string { return apiCode(err) }

// HTTPStatus is the HTTP status of the S3 response err reports (0 when there was none).
func HTTPStatus(err error) int { return httpStatus(err) }
