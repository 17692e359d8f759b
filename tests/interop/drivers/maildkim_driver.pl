# Mail::DKIM peer driver; run by peers.py as: perl -I STATE/perl5 maildkim_driver.pl ...
#
#   verify KEYS.json strict|lax MSG...  -> one JSON line per message
#   sign SPEC.json                      -> the DKIM-Signature field on stdout
#   version
# Keys come from KEYS.json ({"name": "TXT value" | null}) through a resolver object
# installed with Mail::DKIM::DNS::resolver() (RecordResolver.pm); no DNS is used.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use RecordResolver;
use JSON::PP;
use Net::DNS;
use Mail::DKIM;
use Mail::DKIM::Verifier;
use Mail::DKIM::Signer;
use Mail::DKIM::Signature;
use Mail::DKIM::PrivateKey;
use Crypt::OpenSSL::RSA;

binmode STDOUT;
my $JSON = JSON::PP->new->canonical(1)->utf8(1);

*slurp = \&RecordResolver::slurp;


sub verify {
    my ( $keys, $policy, @files ) = @_;
    Mail::DKIM::DNS::resolver( RecordResolver->new( $JSON->decode( slurp($keys) ) ) );
    for my $file (@files) {
        my %out = ( file => $file, sigs => [], error => undef );
        eval {
            # Strict: RFC 8301 (no rsa-sha1, no RSA key < 1024 bits)
            my $v = Mail::DKIM::Verifier->new( Strict => ( $policy eq 'strict' ? 1 : 0 ) );
            $v->PRINT( slurp($file) );
            $v->CLOSE;
            for my $sig ( $v->signatures ) {    # in header order, top first
                next if $sig->isa('Mail::DKIM::DkSignature');    # DomainKeys, not DKIM
                my $r = $sig->result // 'none';
                my $b = $sig->get_tag('b') // '';
                $b =~ s/\s+//g;
                push @{ $out{sigs} }, {
                    d      => $sig->domain    // '',
                    s      => $sig->selector  // '',
                    a      => $sig->algorithm // '',
                    b      => $b,
                    result => $r eq 'pass' ? 'pass' : 'fail',
                    detail => $r eq 'pass' ? '' : ( $sig->result_detail // $r ),
                };
            }
            1;
        } or do { my $e = $@ || 'unknown error'; chomp $e; $out{error} = $e; };
        print $JSON->encode( \%out ), "\n";
    }
    return 0;
}

sub sign {
    my ($spec_file) = @_;
    my $spec = $JSON->decode( slurp($spec_file) );
    my $msg  = slurp( $spec->{in} );
    my $alg  = $spec->{algorithm};
    my $key;
    if ( $alg =~ /^ed25519/ ) {    # Mail::DKIM wants the base64 body of a PKCS#8 PEM
        $key = Mail::DKIM::PrivateKey->load( File => $spec->{key}, Type => 'ed25519' );
    }
    else {                         # PKCS#1 or PKCS#8 PEM, parsed by Crypt::OpenSSL::RSA
        $key = Mail::DKIM::PrivateKey->load(
            Cork => Crypt::OpenSSL::RSA->new_private_key( slurp( $spec->{key} ) ) );
    }
    my $t = $spec->{timestamp} // time();
    my $make = sub {
        my ($length) = @_;
        my $policy = sub {
            my $signer = shift;
            my $sig    = Mail::DKIM::Signature->new(
                Algorithm => $alg,
                Method    => $spec->{canon},
                Headers   => defined $spec->{headers} ? join( ':', @{ $spec->{headers} } ) : $signer->headers,
                Domain    => $spec->{domain},
                Selector  => $spec->{selector},
                Key       => $key,
                Timestamp => $t,
                ( defined $spec->{expire} ? ( Expiration => $t + $spec->{expire} ) : () ),
            );
            $sig->body_count($length) if defined $length;
            $signer->add_signature($sig);
            return;
        };
        my $signer = Mail::DKIM::Signer->new( Policy => $policy, Key => $key );
        $signer->PRINT($msg);
        $signer->CLOSE;
        return $signer;
    };
    my $length;
    if ( $spec->{length} ) {    # l= of the whole body: Mail::DKIM's own canonical body count
        my ($algo) = @{ $make->(undef)->{algorithms} };
        $length = ( $algo->{body_canon} || $algo->{canon} )->body_count;
    }
    my $sig = $make->($length)->signature or die "Mail::DKIM made no signature\n";
    print $sig->as_string, "\015\012";
    return 0;
}

my $cmd = shift @ARGV // '';
if    ( $cmd eq 'verify' )  { exit verify(@ARGV); }
elsif ( $cmd eq 'sign' )    { exit sign(@ARGV); }
elsif ( $cmd eq 'version' ) { print "Mail::DKIM $Mail::DKIM::VERSION\n"; exit 0; }
die "usage: maildkim_driver.pl verify KEYS.json strict|lax MSG... | sign SPEC.json | version\n";
